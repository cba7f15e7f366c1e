package io.batchagent.tools.http;

import java.net.URI;
import java.util.Arrays;
import java.util.Collection;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * Which hosts outgoing HTTP calls may go to: exact names ({@code api.example.com}), all subdomains of
 * a domain ({@code *.example.com}, which does not match {@code example.com} itself), or any host
 * ({@code *}). Empty allows nothing. Only {@code http} and {@code https} URLs pass. Immutable.
 */
public final class HostAllowlist {

    private final Set<String> entries;

    private HostAllowlist(Set<String> entries) {
        this.entries = entries;
    }

    public static HostAllowlist of(Collection<String> hosts) {
        Set<String> normalised = new TreeSet<>();
        for (String host : hosts) {
            String h = host.strip().toLowerCase(Locale.ROOT);
            if (!h.isEmpty()) {
                normalised.add(h);
            }
        }
        return new HostAllowlist(Set.copyOf(normalised));
    }

    /** Parses a comma-separated list. */
    public static HostAllowlist parse(String commaSeparated) {
        return of(commaSeparated == null ? Set.of() : Arrays.asList(commaSeparated.split(",")));
    }

    public boolean isEmpty() {
        return entries.isEmpty();
    }

    /** True if {@code url} is http(s) and its host is allowed. */
    public boolean allows(URI url) {
        String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https") || url.getHost() == null) {
            return false;
        }
        String host = url.getHost().toLowerCase(Locale.ROOT);
        if (host.endsWith(".")) {
            host = host.substring(0, host.length() - 1);
        }
        for (String entry : entries) {
            if (entry.equals("*")
                    || entry.equals(host)
                    || entry.startsWith("*.")
                            && host.endsWith(entry.substring(1))
                            && host.length() > entry.length() - 1) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String toString() {
        return entries.isEmpty() ? "(none)" : entries.stream().collect(Collectors.joining(", "));
    }
}
