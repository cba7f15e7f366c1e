package io.batchagent.inference;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.SpecVersionDetector;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ToolSpec;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * What the worker derives once per batch: the shared prefix, the compiled output schema and the
 * declared tools by name; or, when the spec is unusable (a tool's parameters or the output schema is
 * not a valid JSON Schema), the reason, so that each of its turns fails fast with it.
 *
 * <p>Immutable and thread-safe.
 */
final class PreparedBatch {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final BatchSpec spec;
    private final SharedPrefix prefix;
    private final JsonSchema outputSchema;
    private final Map<String, ToolSpec> tools;
    private final String problem;
    private final Map<Object, Object> renderings = new ConcurrentHashMap<>();

    private PreparedBatch(
            BatchSpec spec, SharedPrefix prefix, JsonSchema outputSchema, Map<String, ToolSpec> tools, String problem) {
        this.spec = spec;
        this.prefix = prefix;
        this.outputSchema = outputSchema;
        this.tools = tools;
        this.problem = problem;
    }

    static PreparedBatch of(BatchSpec spec) {
        Map<String, ToolSpec> tools = new LinkedHashMap<>();
        for (ToolSpec tool : spec.getTools()) {
            tools.putIfAbsent(tool.getName(), tool);
        }
        try {
            SharedPrefix prefix = SharedPrefix.of(spec);
            JsonSchema schema =
                    spec.getOutputSchemaJson() == null ? null : compile(spec.getBatchId(), spec.getOutputSchemaJson());
            return new PreparedBatch(spec, prefix, schema, Collections.unmodifiableMap(tools), null);
        } catch (RuntimeException e) {
            return new PreparedBatch(spec, null, null, Map.of(), e.getMessage());
        }
    }

    private static JsonSchema compile(String batchId, String schemaJson) {
        JsonNode node;
        try {
            node = JSON.readTree(schemaJson);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(
                    "batch '" + batchId + "': outputSchemaJson is not valid JSON: " + e.getOriginalMessage(), e);
        }
        SpecVersion.VersionFlag version =
                SpecVersionDetector.detectOptionalVersion(node, false).orElse(SpecVersion.VersionFlag.V202012);
        try {
            JsonSchema schema = JsonSchemaFactory.getInstance(version).getSchema(node);
            // Compile now, so a broken schema fails the batch here rather than each answer later.
            schema.initializeValidators();
            return schema;
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(
                    "batch '" + batchId + "': outputSchemaJson is not a usable JSON Schema: " + e.getMessage(), e);
        }
    }

    BatchSpec spec() {
        return spec;
    }

    /** Null when the batch is unusable; see {@link #problem()}. */
    SharedPrefix prefix() {
        return prefix;
    }

    /** Null when the batch has no output schema. */
    JsonSchema outputSchema() {
        return outputSchema;
    }

    /** The declared tool of that name, or null. */
    ToolSpec tool(String name) {
        return name == null ? null : tools.get(name);
    }

    /** Names of the declared tools, in declared order, for error messages. */
    String allowedTools() {
        return tools.isEmpty() ? "(no tools)" : tools.keySet().stream().collect(Collectors.joining(", "));
    }

    /**
     * What an engine client derives from this batch once and reuses for every call (its rendering of the
     * shared prefix, a prebuilt SDK request part): computed on first use under {@code key}, which must
     * identify the client's dialect and shape.
     */
    @SuppressWarnings("unchecked")
    <T> T rendering(Object key, Supplier<T> render) {
        return (T) renderings.computeIfAbsent(key, k -> render.get());
    }

    /** Why the batch cannot be used (naming the batch and the offending part), or null. */
    String problem() {
        return problem;
    }
}
