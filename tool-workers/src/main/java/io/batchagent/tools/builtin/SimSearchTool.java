package io.batchagent.tools.builtin;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code sim_search}: a SIMULATED web search, for demos and benchmarks without network access. It
 * never touches the network: after a fixed latency (default {@value #DEFAULT_LATENCY_MS} ms, the
 * tool option {@code sim_search.latency.ms}) it returns made-up results that depend only on the
 * query and {@code num_results}, so identical calls give identical text, as the coalescing and
 * caching figures of a benchmark need. Its output says, on its first line, that it is simulated.
 *
 * <p>The latency is a blocking, interruptible wait, so a timeout ends it at once. Thread-safe.
 */
public final class SimSearchTool implements Tool {

    public static final String NAME = "sim_search";
    public static final long DEFAULT_LATENCY_MS = 400;
    public static final int DEFAULT_RESULTS = 5;
    public static final int MAX_RESULTS = 10;

    private static final List<String> TITLES = List.of(
            "%s: an overview",
            "%s explained",
            "A practical guide to %s",
            "%s: frequently asked questions",
            "Recent developments in %s",
            "%s compared with the alternatives",
            "Common pitfalls with %s",
            "%s in practice: a case study",
            "A short history of %s",
            "%s: key facts and figures");
    private static final List<String> SNIPPETS = List.of(
            "An introduction to %s, with definitions and worked examples.",
            "What practitioners report about %s after %d months of use.",
            "A survey of %d sources on %s, summarised in one page.",
            "Benchmarks of %s show a %d%% difference between the common setups.",
            "Answers to the %d questions most often asked about %s.",
            "Lessons learned from deploying %s across %d teams.");

    private volatile Duration latency;

    /** With the default latency; used by {@link java.util.ServiceLoader}. */
    public SimSearchTool() {
        this(Duration.ofMillis(DEFAULT_LATENCY_MS));
    }

    /** @param latency how long each call waits before answering, not negative */
    public SimSearchTool(Duration latency) {
        if (latency.isNegative()) {
            throw new IllegalArgumentException("latency must not be negative, got " + latency);
        }
        this.latency = latency;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String description() {
        return "SIMULATED web search (no network access): returns made-up, deterministic results for a query. "
                + "For demos and benchmarks only; the results are not real web pages.";
    }

    @Override
    public String parametersJson() {
        return "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"},"
                + "\"num_results\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":" + MAX_RESULTS + "}},"
                + "\"required\":[\"query\"]}";
    }

    /** Option: {@code latency.ms}, a whole number of milliseconds, 0 or more. */
    @Override
    public void configure(Map<String, String> options) {
        String value = options.get("latency.ms");
        if (value == null) {
            return;
        }
        long millis;
        try {
            millis = Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    "latency.ms must be a whole number of milliseconds, got '" + value + "'", e);
        }
        if (millis < 0) {
            throw new IllegalArgumentException("latency.ms must not be negative, got " + millis);
        }
        latency = Duration.ofMillis(millis);
    }

    /** The wait before each answer. */
    public Duration latency() {
        return latency;
    }

    /**
     * @throws IllegalArgumentException if {@code query} is missing or {@code num_results} is not 1 to 10
     * @throws InterruptedException if interrupted during the simulated latency
     */
    @Override
    public String execute(JsonNode arguments, ToolContext context) throws InterruptedException {
        String query = Arguments.requiredText(arguments, NAME, "query").strip();
        int count = Arguments.optionalInt(arguments, NAME, "num_results", DEFAULT_RESULTS, 1, MAX_RESULTS);
        Duration wait = latency;
        if (!wait.isZero()) {
            TimeUnit.NANOSECONDS.sleep(wait.toNanos()); // the simulated network round trip
        }
        return results(query, count);
    }

    /** The results text: a pure function of its arguments. */
    static String results(String query, int count) {
        byte[] digest = sha256(query.toLowerCase(Locale.ROOT));
        String slug = slug(query);
        StringBuilder out = new StringBuilder()
                .append("SIMULATED web search results (sim_search: generated offline, not real web pages)\n")
                .append("Query: \"")
                .append(query)
                .append("\"\n");
        int firstTitle = Byte.toUnsignedInt(digest[0]) % TITLES.size();
        for (int i = 0; i < count; i++) {
            int d = Byte.toUnsignedInt(digest[(i + 1) % digest.length]);
            String title = String.format(Locale.ROOT, TITLES.get((firstTitle + i) % TITLES.size()), capitalize(query));
            String snippet = SNIPPETS.get(d % SNIPPETS.size());
            int figure = 2 + d % 48;
            snippet = snippet.indexOf("%s") < snippet.indexOf("%d")
                    ? String.format(Locale.ROOT, snippet, query, figure)
                    : String.format(Locale.ROOT, snippet, figure, query);
            String page = HexFormat.of().formatHex(sha256(query + '\u0000' + i), 0, 4);
            out.append('\n')
                    .append(i + 1)
                    .append(". ")
                    .append(title)
                    .append('\n')
                    .append("   https://sim-search.invalid/")
                    .append(slug)
                    .append('/')
                    .append(page)
                    .append('\n')
                    .append("   ")
                    .append(snippet)
                    .append('\n');
        }
        return out.toString();
    }

    private static String slug(String query) {
        String slug =
                query.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-").replaceAll("^-|-$", "");
        slug = slug.length() > 40 ? slug.substring(0, 40) : slug;
        return slug.isEmpty() ? "q" : slug;
    }

    private static String capitalize(String text) {
        return text.isEmpty() ? text : Character.toUpperCase(text.charAt(0)) + text.substring(1);
    }

    private static byte[] sha256(String text) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }
}
