package io.batchagent.schemas;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.batchagent.events.ToolSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Set;
import org.apache.avro.Schema;
import org.erdtman.jcs.JsonCanonicalizer;

/**
 * The identity of a tool call: SHA-256 over the tool name, the fingerprint of the tool's
 * declaration ({@link #declaration}), and the RFC 8785 canonical JSON of its arguments, separated
 * by NUL bytes ({@link #ofCall}). Identical calls from any agent on any worker get the same hash
 * and so meet in one partition of the tool topics; the coalescer, the batch groups and the result
 * cache are all keyed by it. Because the declaration is part of it, two batches that declare a
 * tool of the same name differently (another {@code httpUrl}, {@code mcpServer}, output cap,
 * parameters or timeout) never share an execution or a cached result, while batches with
 * identical declarations do.
 *
 * <p>{@link #of(String, String)} hashes a bare name and JSON; it identifies other things (job
 * inputs), not tool calls.
 *
 * <p>Thread-safe; stateless.
 */
public final class CallHash {

    /**
     * The {@code ToolSpec} fields left out of {@link #declaration}: they decide what the model reads
     * ({@code description}), whether identical calls share an execution ({@code coalesce}, carried by
     * {@link #uncoalesced}), or when and how fast executions start (rate and concurrency limits,
     * batch window and size), not what an execution returns. Every other field, including any
     * added to the schema later, is part of the declaration.
     */
    static final Set<String> NOT_DECLARATION =
            Set.of("description", "coalesce", "rateLimitPerSecond", "maxConcurrency", "batchWindowMs", "batchMaxSize");

    private static final ObjectMapper JSON = new ObjectMapper();

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

    /**
     * The hash of a call of the declared {@code tool} with {@code argumentsJson}: see the class
     * documentation.
     *
     * @throws IllegalArgumentException if {@code argumentsJson} is not valid JSON
     */
    public static String ofCall(ToolSpec tool, String argumentsJson) {
        return ofCanonicalCall(tool, canonicalJson(argumentsJson));
    }

    /** As {@link #ofCall}, for arguments already in canonical form. */
    public static String ofCanonicalCall(ToolSpec tool, String canonicalArguments) {
        return hash(tool.getName(), declaration(tool), canonicalArguments);
    }

    /**
     * The fingerprint of a tool's declaration: the canonical JSON (RFC 8785) of its {@code ToolSpec}
     * fields except {@link #NOT_DECLARATION}, with {@code parametersJson} as the JSON it holds (so
     * that formatting does not split identical schemas). Equal for declarations that run a call the
     * same way.
     */
    public static String declaration(ToolSpec tool) {
        ObjectNode fields = JSON.createObjectNode();
        for (Schema.Field field : tool.getSchema().getFields()) {
            if (!NOT_DECLARATION.contains(field.name())) {
                Object value = tool.get(field.pos());
                fields.set(
                        field.name(),
                        field.name().equals("parametersJson") ? parsedOrText((String) value) : node(value));
            }
        }
        return canonicalJson(fields.toString());
    }

    /**
     * A key naming a tool by its declaration: its name, '@', and the hex SHA-256 of
     * {@link #declaration}. Batchable calls are grouped by it, so that only calls to one declaration
     * share a batched execution.
     */
    public static String declarationKey(ToolSpec tool) {
        return tool.getName() + '@' + hash(declaration(tool));
    }

    /** Returns the hex SHA-256 of {@code name} and the canonical form of {@code json}. Not for tool calls: see {@link #ofCall}. */
    public static String of(String name, String json) {
        return ofCanonical(name, canonicalJson(json));
    }

    /** As {@link #of}, for JSON already in canonical form. */
    public static String ofCanonical(String name, String canonicalJson) {
        return hash(name, canonicalJson);
    }

    /**
     * The hash of a request to a tool declared with {@code coalesce=false}: it includes the asking
     * agent's job id, turn and call id, so that no two requests share an execution.
     */
    public static String uncoalesced(String tool, String canonicalArguments, String jobId, int turn, String callId) {
        return ofCanonical(tool, canonicalArguments + '\u0000' + jobId + '\u0000' + turn + '\u0000' + callId);
    }

    /** The hex SHA-256 of the parts in UTF-8, a NUL byte between each two. */
    private static String hash(String... parts) {
        MessageDigest digest = sha256();
        for (int i = 0; i < parts.length; i++) {
            if (i > 0) {
                digest.update((byte) 0);
            }
            digest.update(parts[i].getBytes(StandardCharsets.UTF_8));
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private static JsonNode parsedOrText(String json) {
        try {
            JsonNode parsed = JSON.readTree(json);
            return parsed == null || parsed.isMissingNode() ? TextNode.valueOf(json) : parsed;
        } catch (JsonProcessingException e) {
            return TextNode.valueOf(json); // the worker refuses the call; the text still identifies the declaration
        }
    }

    private static JsonNode node(Object value) {
        if (value == null) {
            return NullNode.getInstance();
        }
        return value instanceof CharSequence || value instanceof Number || value instanceof Boolean
                ? JSON.valueToTree(value instanceof CharSequence text ? text.toString() : value)
                : TextNode.valueOf(String.valueOf(value)); // a future nested field: its Avro JSON text
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }
}
