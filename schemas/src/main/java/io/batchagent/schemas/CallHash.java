package io.batchagent.schemas;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.erdtman.jcs.JsonCanonicalizer;

/**
 * The identity of a tool call: SHA-256 over the tool name, a NUL byte, and the RFC 8785 canonical
 * JSON of its arguments. Identical calls from any agent on any worker get the same hash and so
 * meet in one partition of the tool topics.
 *
 * <p>Thread-safe; stateless.
 */
public final class CallHash {

    private CallHash() {}

    /**
     * Returns the RFC 8785 canonical form of a JSON text.
     *
     * @throws IllegalArgumentException if {@code json} is not valid JSON
     */
    public static String canonicalJson(String json) {
        try {
            return new JsonCanonicalizer(json).getEncodedString();
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("not valid JSON: " + e.getMessage(), e);
        }
    }

    /** Returns the hex SHA-256 of {@code tool} and the canonical form of {@code argumentsJson}. */
    public static String of(String tool, String argumentsJson) {
        return ofCanonical(tool, canonicalJson(argumentsJson));
    }

    /** As {@link #of}, for arguments already in canonical form. */
    public static String ofCanonical(String tool, String canonicalArguments) {
        MessageDigest digest = sha256();
        digest.update(tool.getBytes(StandardCharsets.UTF_8));
        digest.update((byte) 0);
        digest.update(canonicalArguments.getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(digest.digest());
    }

    /**
     * The hash of a request to a tool declared with {@code coalesce=false}: it includes the asking
     * agent's job id, turn and call id, so that no two requests share an execution.
     */
    public static String uncoalesced(String tool, String canonicalArguments, String jobId, int turn, String callId) {
        return ofCanonical(tool, canonicalArguments + '\u0000' + jobId + '\u0000' + turn + '\u0000' + callId);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }
}
