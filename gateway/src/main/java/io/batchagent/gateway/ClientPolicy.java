package io.batchagent.gateway;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Who may call the gateway: loopback clients always, other addresses only when configured, and, when an
 * access token is configured, only callers presenting it.
 *
 * <p>Immutable and thread-safe.
 */
final class ClientPolicy {

    /** Literal IPv4 or IPv6 text only, so that parsing never resolves a host name. */
    private static final Pattern LITERAL = Pattern.compile("[0-9A-Fa-f:.]+(%\\w+)?");

    /** One allowed block: an address and how many leading bits must match. */
    record Block(byte[] network, int prefixBits) {
        boolean contains(byte[] address) {
            if (address.length != network.length) {
                return false;
            }
            int full = prefixBits / 8;
            for (int i = 0; i < full; i++) {
                if (address[i] != network[i]) {
                    return false;
                }
            }
            int rest = prefixBits % 8;
            if (rest == 0) {
                return true;
            }
            int mask = (0xFF << (8 - rest)) & 0xFF;
            return (address[full] & mask) == (network[full] & mask);
        }
    }

    private final List<Block> blocks;
    private final byte[] token;

    ClientPolicy(List<String> allowedClients, String accessToken) {
        this.blocks = parseAll(allowedClients);
        this.token = accessToken == null ? null : accessToken.getBytes(StandardCharsets.UTF_8);
    }

    /** Whether a client at {@code address} may call at all. */
    boolean allows(InetAddress address) {
        if (address == null) {
            return false;
        }
        if (address.isLoopbackAddress()) {
            return true;
        }
        byte[] bytes = address.getAddress();
        return blocks.stream().anyMatch(block -> block.contains(bytes));
    }

    /** Whether the {@code Authorization} header value is acceptable: anything when no token is configured. */
    boolean authorized(String authorization) {
        if (token == null) {
            return true;
        }
        if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return false;
        }
        byte[] presented = authorization.substring(7).trim().getBytes(StandardCharsets.UTF_8);
        return MessageDigest.isEqual(presented, token);
    }

    /**
     * Parses allowed-client entries: addresses or CIDR blocks.
     *
     * @throws IllegalArgumentException naming the entry that is neither
     */
    static List<Block> parseAll(List<String> entries) {
        List<Block> parsed = new ArrayList<>();
        for (String entry : entries) {
            parsed.add(parse(entry));
        }
        return List.copyOf(parsed);
    }

    private static Block parse(String entry) {
        String text = entry == null ? "" : entry.trim();
        int slash = text.indexOf('/');
        String address = slash < 0 ? text : text.substring(0, slash);
        if (!LITERAL.matcher(address).matches()) {
            throw new IllegalArgumentException("allowed client '" + entry + "' is not an IP address or CIDR block "
                    + "(host names are not accepted)");
        }
        byte[] bytes;
        try {
            bytes = InetAddress.getByName(address).getAddress();
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(
                    "allowed client '" + entry + "' is not an IP address: " + e.getMessage());
        }
        int bits = bytes.length * 8;
        if (slash >= 0) {
            try {
                bits = Integer.parseInt(text.substring(slash + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("allowed client '" + entry + "' has a bad prefix length");
            }
            if (bits < 0 || bits > bytes.length * 8) {
                throw new IllegalArgumentException(
                        "allowed client '" + entry + "' has a prefix length outside 0.." + bytes.length * 8);
            }
        }
        return new Block(bytes, bits);
    }
}
