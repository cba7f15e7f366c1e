package io.batchagent.tools;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import io.batchagent.events.ToolSpec;
import io.batchagent.schemas.CallHash;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * Reads and checks a batch's tool declarations ({@code tools.json}): a JSON array of objects with
 *
 * <table>
 *   <caption>Keys of a tool declaration</caption>
 *   <tr><th>key</th><th>type, default</th><th>meaning</th></tr>
 *   <tr><td>{@code name}</td><td>string, required</td><td>1-64 of {@code [A-Za-z0-9_-]}, unique</td></tr>
 *   <tr><td>{@code description}</td><td>string, ""</td><td>for the model</td></tr>
 *   <tr><td>{@code parameters}</td><td>JSON Schema object, {@code {"type":"object"}}</td><td>arguments; every call is validated against it</td></tr>
 *   <tr><td>{@code timeout_ms}</td><td>integer, 30000</td><td>per execution, waiting for limits included</td></tr>
 *   <tr><td>{@code cacheable}, {@code cache_ttl_ms}</td><td>boolean false; integer, {@value #DEFAULT_CACHE_TTL_MS} (1 h) when cacheable</td><td>deterministic: results reused for the TTL</td></tr>
 *   <tr><td>{@code coalesce}</td><td>boolean, true</td><td>identical calls in flight share one execution</td></tr>
 *   <tr><td>{@code max_output_chars}</td><td>integer, 16384</td><td>longer output is cut, with a marker saying how much</td></tr>
 *   <tr><td>{@code rate_limit_per_second}</td><td>number, 0 (none)</td><td>executions per second across all tool workers</td></tr>
 *   <tr><td>{@code max_concurrency}</td><td>integer, 0 (none)</td><td>executions at once across all tool workers</td></tr>
 *   <tr><td>{@code batchable}, {@code batch_window_ms}, {@code batch_max_size}</td><td>false, 20, 100</td><td>group distinct calls arriving within the window into one execution</td></tr>
 *   <tr><td>{@code http_url}</td><td>http(s) URL</td><td>an HTTP tool: arguments are POSTed there</td></tr>
 *   <tr><td>{@code mcp_server}</td><td>string</td><td>an MCP tool: the server (configured on the workers) that has it</td></tr>
 * </table>
 *
 * Every problem is reported with the file, the tool's position and name, and the key, e.g.
 * {@code tools.json tool #2 (search): 'cache_ttl_ms' must be positive when 'cacheable' is true}.
 * Unknown keys are errors, so that a misspelt flag is not silently ignored. Stateless.
 */
public final class ToolDeclarations {

    public static final long MAX_TIMEOUT_MS = 3_600_000;
    public static final int MAX_OUTPUT_CHARS_LIMIT = 262_144;
    public static final long MAX_BATCH_WINDOW_MS = 10_000;
    public static final int MAX_BATCH_SIZE = 1_000;
    /** The result TTL of a tool declared {@code cacheable} without {@code cache_ttl_ms}: one hour. */
    public static final long DEFAULT_CACHE_TTL_MS = 3_600_000;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    private static final Set<String> KEYS = Set.of(
            "name",
            "description",
            "parameters",
            "timeout_ms",
            "cacheable",
            "cache_ttl_ms",
            "coalesce",
            "max_output_chars",
            "rate_limit_per_second",
            "max_concurrency",
            "batchable",
            "batch_window_ms",
            "batch_max_size",
            "http_url",
            "mcp_server");

    private ToolDeclarations() {}

    /** Reads {@code file}. @throws IllegalArgumentException naming the first problem */
    public static List<ToolSpec> read(Path file) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            if (!file.toFile().exists()) {
                throw e;
            }
            // Jackson's messages run over several lines; an error about a user's file is one line.
            String message = e instanceof JsonProcessingException json ? json.getOriginalMessage() : e.getMessage();
            String where = e instanceof JsonProcessingException json && json.getLocation() != null
                    ? " line " + json.getLocation().getLineNr()
                    : "";
            throw new IllegalArgumentException(
                    file + where + " is not valid JSON: "
                            + String.valueOf(message)
                                    .lines()
                                    .findFirst()
                                    .orElse("")
                                    .strip(),
                    e);
        }
        return parse(root, file.toString());
    }

    /**
     * Checks and converts declarations.
     *
     * @param source how to name the declarations in errors, e.g. the file
     * @throws IllegalArgumentException naming the first problem
     */
    public static List<ToolSpec> parse(JsonNode root, String source) {
        if (!(root instanceof ArrayNode array)) {
            throw new IllegalArgumentException(source + " must hold a JSON array of tool declarations");
        }
        List<ToolSpec> tools = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (int i = 0; i < array.size(); i++) {
            JsonNode t = array.get(i);
            String where = source + " tool #" + (i + 1);
            if (!t.isObject()) {
                throw new IllegalArgumentException(where + " must be a JSON object");
            }
            String name = t.path("name").isTextual() ? t.get("name").textValue() : "";
            if (!NAME.matcher(name).matches()) {
                throw new IllegalArgumentException(where + ": 'name' must be 1-64 letters, digits, '_' or '-', got "
                        + (t.has("name") ? t.get("name").toString() : "nothing"));
            }
            where = where + " (" + name + ")";
            if (!names.add(name)) {
                throw new IllegalArgumentException(where + ": another tool is already named '" + name + "'");
            }
            tools.add(parseOne(t, where));
        }
        return tools;
    }

    private static ToolSpec parseOne(JsonNode t, String where) {
        Set<String> unknown = new TreeSet<>();
        for (Iterator<String> it = t.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!KEYS.contains(key)) {
                unknown.add(key);
            }
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(
                    where + ": unknown key(s) " + unknown + "; a tool declaration may have " + new TreeSet<>(KEYS));
        }
        ToolSpec.Builder spec = ToolSpec.newBuilder().setName(t.get("name").textValue());
        spec.setDescription(text(t, "description", where, ""));
        JsonNode parameters = t.path("parameters");
        if (parameters.isMissingNode()) {
            spec.setParametersJson("{\"type\":\"object\"}");
        } else {
            if (!parameters.isObject()) {
                throw new IllegalArgumentException(where + ": 'parameters' must be a JSON Schema object");
            }
            if (parameters.has("type")
                    && !"object".equals(parameters.get("type").asText())) {
                throw new IllegalArgumentException(
                        where + ": 'parameters' must describe an object (\"type\": \"object\"), got type "
                                + parameters.get("type"));
            }
            String canonical = CallHash.canonicalJson(parameters.toString());
            try {
                ParameterSchemas.compile(canonical);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + ": 'parameters' is " + e.getMessage(), e);
            }
            spec.setParametersJson(canonical);
        }
        long timeout = integer(t, "timeout_ms", where, 30_000);
        if (timeout < 1 || timeout > MAX_TIMEOUT_MS) {
            throw new IllegalArgumentException(
                    where + ": 'timeout_ms' must be from 1 to " + MAX_TIMEOUT_MS + ", got " + timeout);
        }
        spec.setTimeoutMs(timeout);
        boolean cacheable = bool(t, "cacheable", where, false);
        long ttl = integer(t, "cache_ttl_ms", where, cacheable ? DEFAULT_CACHE_TTL_MS : 0);
        if (cacheable && ttl <= 0) {
            throw new IllegalArgumentException(where + ": 'cache_ttl_ms' must be positive when 'cacheable' is true");
        }
        if (!cacheable && t.has("cache_ttl_ms")) {
            throw new IllegalArgumentException(where + ": 'cache_ttl_ms' is set but 'cacheable' is not true");
        }
        spec.setCacheable(cacheable).setCacheTtlMs(ttl);
        spec.setCoalesce(bool(t, "coalesce", where, true));
        long maxOutput = integer(t, "max_output_chars", where, 16_384);
        if (maxOutput < 100 || maxOutput > MAX_OUTPUT_CHARS_LIMIT) {
            throw new IllegalArgumentException(where + ": 'max_output_chars' must be from 100 to "
                    + MAX_OUTPUT_CHARS_LIMIT + " (results travel on Kafka), got " + maxOutput);
        }
        spec.setMaxOutputChars((int) maxOutput);
        double rate = number(t, "rate_limit_per_second", where, 0);
        if (rate < 0 || rate > 100_000) {
            throw new IllegalArgumentException(
                    where + ": 'rate_limit_per_second' must be from 0 (no limit) to 100000, got " + rate);
        }
        spec.setRateLimitPerSecond(rate);
        long concurrency = integer(t, "max_concurrency", where, 0);
        if (concurrency < 0 || concurrency > 100_000) {
            throw new IllegalArgumentException(
                    where + ": 'max_concurrency' must be from 0 (no limit) to 100000, got " + concurrency);
        }
        spec.setMaxConcurrency((int) concurrency);
        boolean batchable = bool(t, "batchable", where, false);
        if (!batchable && (t.has("batch_window_ms") || t.has("batch_max_size"))) {
            throw new IllegalArgumentException(
                    where + ": 'batch_window_ms' and 'batch_max_size' need 'batchable': true");
        }
        long window = integer(t, "batch_window_ms", where, 20);
        if (window < 1 || window > MAX_BATCH_WINDOW_MS) {
            throw new IllegalArgumentException(
                    where + ": 'batch_window_ms' must be from 1 to " + MAX_BATCH_WINDOW_MS + ", got " + window);
        }
        long size = integer(t, "batch_max_size", where, 100);
        if (size < 1 || size > MAX_BATCH_SIZE) {
            throw new IllegalArgumentException(
                    where + ": 'batch_max_size' must be from 1 to " + MAX_BATCH_SIZE + ", got " + size);
        }
        spec.setBatchable(batchable).setBatchWindowMs(window).setBatchMaxSize((int) size);
        String httpUrl = text(t, "http_url", where, null);
        String mcpServer = text(t, "mcp_server", where, null);
        if (httpUrl != null && mcpServer != null) {
            throw new IllegalArgumentException(where + ": a tool has either 'http_url' or 'mcp_server', not both");
        }
        if (httpUrl != null) {
            URI uri;
            try {
                uri = URI.create(httpUrl);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + ": 'http_url' is not a URL: " + e.getMessage(), e);
            }
            if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
                throw new IllegalArgumentException(
                        where + ": 'http_url' must be an absolute http:// or https:// URL, got " + httpUrl);
            }
            if (uri.getUserInfo() != null) {
                throw new IllegalArgumentException(
                        where + ": 'http_url' must not carry credentials; batches are not secret");
            }
        }
        if (mcpServer != null && !NAME.matcher(mcpServer).matches()) {
            throw new IllegalArgumentException(
                    where + ": 'mcp_server' must be 1-64 letters, digits, '_' or '-', got '" + mcpServer + "'");
        }
        return spec.setHttpUrl(httpUrl).setMcpServer(mcpServer).build();
    }

    /** The declarations of {@code specs} in the {@code tools.json} form (for writing one out). */
    public static List<Map<String, Object>> toJson(List<ToolSpec> specs) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (ToolSpec spec : specs) {
            Map<String, Object> t = new java.util.LinkedHashMap<>();
            t.put("name", spec.getName());
            t.put("description", spec.getDescription());
            try {
                t.put("parameters", JSON.readTree(spec.getParametersJson()));
            } catch (IOException e) {
                throw new IllegalArgumentException("tool '" + spec.getName() + "' has parameters that are not JSON", e);
            }
            if (spec.getMcpServer() != null) {
                t.put("mcp_server", spec.getMcpServer());
            }
            out.add(t);
        }
        return out;
    }

    private static String text(JsonNode t, String key, String where, String fallback) {
        JsonNode value = t.get(key);
        if (value == null || value.isNull()) {
            return fallback;
        }
        if (!value.isTextual()) {
            throw new IllegalArgumentException(where + ": '" + key + "' must be a string, got " + value);
        }
        return value.textValue();
    }

    private static boolean bool(JsonNode t, String key, String where, boolean fallback) {
        JsonNode value = t.get(key);
        if (value == null || value.isNull()) {
            return fallback;
        }
        if (!value.isBoolean()) {
            throw new IllegalArgumentException(where + ": '" + key + "' must be true or false, got " + value);
        }
        return value.booleanValue();
    }

    private static long integer(JsonNode t, String key, String where, long fallback) {
        JsonNode value = t.get(key);
        if (value == null || value.isNull()) {
            return fallback;
        }
        if (!value.isIntegralNumber() || !value.canConvertToLong()) {
            throw new IllegalArgumentException(where + ": '" + key + "' must be an integer, got " + value);
        }
        return value.longValue();
    }

    private static double number(JsonNode t, String key, String where, double fallback) {
        JsonNode value = t.get(key);
        if (value == null || value.isNull()) {
            return fallback;
        }
        if (!value.isNumber()) {
            throw new IllegalArgumentException(where + ": '" + key + "' must be a number, got " + value);
        }
        return value.doubleValue();
    }
}
