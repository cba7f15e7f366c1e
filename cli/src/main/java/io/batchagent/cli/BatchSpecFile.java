package io.batchagent.cli;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.batchagent.client.BatchDefinition;
import io.batchagent.client.CompactionSettings;
import io.batchagent.events.CompactionPolicy;
import io.batchagent.events.ToolSpec;
import io.batchagent.schemas.CallHash;
import io.batchagent.tools.ToolDeclarations;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A whole batch in one file, {@code batchagent run --spec batch.yaml} (or {@code .json}): what a
 * batch directory holds plus the run's settings. Keys follow the Python original's
 * {@code BatchAgent.run} arguments where they map:
 *
 * <table>
 *   <caption>Keys of a batch spec file</caption>
 *   <tr><th>key</th><th>value</th><th>batch directory / option</th></tr>
 *   <tr><td>{@code task}</td><td>string, required: the per-job message with {@code {variable}} placeholders</td><td>{@code task.txt}</td></tr>
 *   <tr><td>{@code system_prompt}</td><td>string</td><td>{@code system.txt}</td></tr>
 *   <tr><td>{@code inputs}</td><td>a list of objects, or the path of a JSONL file</td><td>{@code inputs.jsonl}</td></tr>
 *   <tr><td>{@code tools}</td><td>a list of tool declarations, or the path of a {@code tools.json}</td><td>{@code tools.json}</td></tr>
 *   <tr><td>{@code output_schema}</td><td>a JSON Schema object, or the path of a schema file</td><td>{@code schema.json}</td></tr>
 *   <tr><td>{@code model}, {@code backend}</td><td>strings</td><td>{@code --model}, {@code --backend}</td></tr>
 *   <tr><td>{@code max_inflight}, {@code max_turns}, {@code max_tokens}, {@code max_repairs},
 *       {@code context_tokens}, {@code deadline_seconds}</td><td>integers</td><td>the options of the same names</td></tr>
 *   <tr><td>{@code batch_id}</td><td>string</td><td>{@code --batch-id}</td></tr>
 *   <tr><td>{@code compaction}</td><td>{@code none}, {@code truncate}, {@code summarize}, or a mapping (see
 *       {@link CompactionSettings})</td><td>{@code --compaction} and the options after it</td></tr>
 *   <tr><td>{@code tool_options}</td><td>a map of built-in tool options, e.g. {@code sim_search.latency.ms: 400}</td><td>{@code --tool-option}</td></tr>
 * </table>
 *
 * Paths are relative to the spec file's folder. A key given on the command line wins over the
 * file. Unknown keys are errors, and every error names the file and the line or key, e.g.
 * {@code batch.yaml: 'max_turns' must be a whole number, got "three"}.
 *
 * <p>Every value is nullable: null means the file does not say.
 */
record BatchSpecFile(
        Path file,
        String task,
        String systemPrompt,
        List<String> inputs,
        List<ToolSpec> tools,
        String outputSchemaJson,
        String model,
        String backend,
        Integer maxInflight,
        Integer maxTurns,
        Integer maxTokens,
        Integer maxRepairs,
        Integer contextTokens,
        Long deadlineSeconds,
        String batchId,
        Map<String, String> toolOptions,
        CompactionPolicy compaction) {

    static final Set<String> KEYS = Set.of(
            "task",
            "system_prompt",
            "inputs",
            "tools",
            "output_schema",
            "model",
            "backend",
            "max_inflight",
            "max_turns",
            "max_tokens",
            "max_repairs",
            "context_tokens",
            "deadline_seconds",
            "batch_id",
            "tool_options",
            "compaction");

    /**
     * Reads and checks {@code file}, and the files it names.
     *
     * @throws IllegalArgumentException naming the file and the line or key of the first problem
     * @throws java.nio.file.NoSuchFileException if it, or a file it names, does not exist
     */
    static BatchSpecFile read(Path file) throws IOException {
        ObjectNode root = parse(file);
        Reader r = new Reader(file, root);
        r.checkKeys();
        return new BatchSpecFile(
                file,
                r.text("task", true),
                r.text("system_prompt", false),
                r.inputs(),
                r.tools(),
                r.outputSchema(),
                r.text("model", false),
                r.text("backend", false),
                r.integer("max_inflight"),
                r.integer("max_turns"),
                r.integer("max_tokens"),
                r.integer("max_repairs"),
                r.integer("context_tokens"),
                r.integer("deadline_seconds") == null
                        ? null
                        : r.integer("deadline_seconds").longValue(),
                r.text("batch_id", false),
                r.toolOptions(),
                r.compaction());
    }

    private static ObjectNode parse(Path file) throws IOException {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        ObjectMapper mapper;
        if (name.endsWith(".yaml") || name.endsWith(".yml")) {
            mapper = new YAMLMapper();
        } else if (name.endsWith(".json")) {
            mapper = new ObjectMapper();
        } else {
            throw new IllegalArgumentException(file + ": a batch spec file must end in .yaml, .yml or .json");
        }
        mapper.enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
        String text = Files.readString(file);
        JsonNode root;
        try {
            root = mapper.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(
                    file + where(e) + ": " + BatchDefinition.firstLine(e.getOriginalMessage()), e);
        }
        if (root == null || root.isMissingNode() || root.isNull()) {
            throw new IllegalArgumentException(file + " is empty; it needs at least 'task' and 'inputs'");
        }
        if (!(root instanceof ObjectNode object)) {
            throw new IllegalArgumentException(file + " must hold a mapping of keys (task, inputs, tools, ...), got "
                    + root.getNodeType().name().toLowerCase(Locale.ROOT));
        }
        return object;
    }

    private static String where(JsonProcessingException e) {
        return e.getLocation() == null || e.getLocation().getLineNr() < 1
                ? ""
                : " line " + e.getLocation().getLineNr() + " column "
                        + e.getLocation().getColumnNr();
    }

    /** Reads the keys of one parsed file, naming the file and key in every error. */
    private record Reader(Path file, ObjectNode root) {

        void checkKeys() {
            Set<String> unknown = new TreeSet<>();
            for (Iterator<String> names = root.fieldNames(); names.hasNext(); ) {
                String key = names.next();
                if (!KEYS.contains(key)) {
                    unknown.add(key);
                }
            }
            if (!unknown.isEmpty()) {
                throw error("unknown key(s) " + unknown + "; a batch spec may have " + new TreeSet<>(KEYS));
            }
        }

        private IllegalArgumentException error(String message) {
            return new IllegalArgumentException(file + ": " + message);
        }

        private JsonNode value(String key) {
            JsonNode value = root.get(key);
            return value == null || value.isNull() ? null : value;
        }

        String text(String key, boolean required) {
            JsonNode value = value(key);
            if (value == null) {
                if (required) {
                    throw error("'" + key + "' is required");
                }
                return null;
            }
            if (!value.isTextual()) {
                throw error("'" + key + "' must be a string, got " + value);
            }
            return value.textValue().strip();
        }

        Integer integer(String key) {
            JsonNode value = value(key);
            if (value == null) {
                return null;
            }
            if (!value.isIntegralNumber() || !value.canConvertToInt()) {
                throw error("'" + key + "' must be a whole number, got " + value);
            }
            return value.intValue();
        }

        private Path path(String key, JsonNode value) {
            Path base = file.toAbsolutePath().getParent();
            Path path = base.resolve(value.textValue());
            if (!Files.isRegularFile(path)) {
                throw error("'" + key + "' names " + path
                        + ", which is not a file (paths are relative to the spec's folder)");
            }
            return path;
        }

        List<String> inputs() throws IOException {
            JsonNode value = value("inputs");
            if (value == null) {
                throw error("'inputs' is required: a list of objects, or the path of a JSONL file");
            }
            if (value.isTextual()) {
                return BatchDefinition.readInputs(path("inputs", value));
            }
            if (!value.isArray()) {
                throw error(
                        "'inputs' must be a list of objects or the path of a JSONL file, got " + value.getNodeType());
            }
            List<String> inputs = new ArrayList<>();
            for (int i = 0; i < value.size(); i++) {
                if (!value.get(i).isObject()) {
                    throw error("'inputs' item #" + (i + 1) + " must be an object of template variables, got "
                            + value.get(i));
                }
                inputs.add(value.get(i).toString());
            }
            return inputs;
        }

        List<ToolSpec> tools() throws IOException {
            JsonNode value = value("tools");
            if (value == null) {
                return null;
            }
            return value.isTextual()
                    ? ToolDeclarations.read(path("tools", value))
                    : ToolDeclarations.parse(value, file + " 'tools'");
        }

        String outputSchema() throws IOException {
            JsonNode value = value("output_schema");
            if (value == null) {
                return null;
            }
            if (value.isTextual()) {
                return BatchDefinition.readSchema(path("output_schema", value));
            }
            if (!value.isObject()) {
                throw error("'output_schema' must be a JSON Schema object or the path of a schema file, got " + value);
            }
            return CallHash.canonicalJson(value.toString());
        }

        CompactionPolicy compaction() {
            JsonNode value = value("compaction");
            return value == null ? null : CompactionSettings.fromSpecFile(value, file + " 'compaction'");
        }

        Map<String, String> toolOptions() {
            JsonNode value = value("tool_options");
            if (value == null) {
                return null;
            }
            if (!value.isObject()) {
                throw error("'tool_options' must be a mapping such as {sim_search.latency.ms: 400}, got " + value);
            }
            Map<String, String> options = new LinkedHashMap<>();
            value.fields().forEachRemaining(e -> {
                if (!e.getValue().isValueNode() || e.getValue().isNull()) {
                    throw error("'tool_options' value of '" + e.getKey() + "' must be a string, number or boolean");
                }
                options.put(e.getKey(), e.getValue().asText());
            });
            return options;
        }
    }
}
