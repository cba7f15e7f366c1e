package io.batchagent.client;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.CompactionPolicy;
import io.batchagent.events.ToolSpec;
import io.batchagent.schemas.CallHash;
import io.batchagent.schemas.TaskTemplate;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a user asks for: the shared part of a batch and its inputs. Validated when built: a bad
 * definition fails at once with a message naming the file, line or field.
 *
 * @param systemPrompt shared system prompt (may be empty)
 * @param taskTemplate per-job user message with {@code {variable}} placeholders
 * @param inputs one JSON object per job, in order
 * @param tools the tools the batch declares
 * @param outputSchemaJson JSON Schema of each final answer, or null
 * @param model the model name sent to the engine
 * @param maxTurns model calls per agent at most
 * @param maxTokens completion tokens per model call at most
 * @param contextTokens the model's context window, for the OVERSIZED check; 0 = unknown
 * @param deadlineMs per-agent deadline across all turns; 0 = none
 * @param maxRepairs repair turns for an answer that fails the output schema (the model gets the errors)
 * @param compaction how long conversations are kept under their budgets ({@link CompactionSettings}); null: no compaction
 */
public record BatchDefinition(
        String systemPrompt,
        String taskTemplate,
        List<String> inputs,
        List<ToolSpec> tools,
        String outputSchemaJson,
        String model,
        int maxTurns,
        int maxTokens,
        int contextTokens,
        long deadlineMs,
        int maxRepairs,
        CompactionPolicy compaction) {

    private static final ObjectMapper JSON = new ObjectMapper();

    public BatchDefinition {
        systemPrompt = systemPrompt == null ? "" : systemPrompt;
        if (taskTemplate == null || taskTemplate.isBlank()) {
            throw new IllegalArgumentException("the task template is empty");
        }
        inputs = List.copyOf(inputs);
        tools = List.copyOf(tools);
        if (maxTurns < 1) {
            throw new IllegalArgumentException("max turns must be at least 1, got " + maxTurns);
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("max tokens must be at least 1, got " + maxTokens);
        }
        if (contextTokens < 0 || deadlineMs < 0 || maxRepairs < 0) {
            throw new IllegalArgumentException("context tokens, deadline and max repairs must not be negative");
        }
        try {
            TaskTemplate.parse(taskTemplate);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("the task template is invalid: " + e.getMessage(), e);
        }
        Set<String> names = new HashSet<>();
        for (ToolSpec tool : tools) {
            if (!names.add(tool.getName())) {
                throw new IllegalArgumentException("tool '" + tool.getName() + "' is declared twice");
            }
        }
    }

    /** A definition with no compaction. */
    public BatchDefinition(
            String systemPrompt,
            String taskTemplate,
            List<String> inputs,
            List<ToolSpec> tools,
            String outputSchemaJson,
            String model,
            int maxTurns,
            int maxTokens,
            int contextTokens,
            long deadlineMs,
            int maxRepairs) {
        this(
                systemPrompt,
                taskTemplate,
                inputs,
                tools,
                outputSchemaJson,
                model,
                maxTurns,
                maxTokens,
                contextTokens,
                deadlineMs,
                maxRepairs,
                null);
    }

    /** A definition with no context limit and no deadline. */
    public BatchDefinition(
            String systemPrompt,
            String taskTemplate,
            List<String> inputs,
            List<ToolSpec> tools,
            String outputSchemaJson,
            String model,
            int maxTurns,
            int maxTokens) {
        this(systemPrompt, taskTemplate, inputs, tools, outputSchemaJson, model, maxTurns, maxTokens, 0, 0, 2);
    }

    /** A definition with two repair turns. */
    public BatchDefinition(
            String systemPrompt,
            String taskTemplate,
            List<String> inputs,
            List<ToolSpec> tools,
            String outputSchemaJson,
            String model,
            int maxTurns,
            int maxTokens,
            int contextTokens,
            long deadlineMs) {
        this(
                systemPrompt,
                taskTemplate,
                inputs,
                tools,
                outputSchemaJson,
                model,
                maxTurns,
                maxTokens,
                contextTokens,
                deadlineMs,
                2);
    }

    /** This definition with other inputs (the reduce step of a client-side reduce, for example). */
    public BatchDefinition withInputs(List<String> other) {
        return new BatchDefinition(
                systemPrompt,
                taskTemplate,
                other,
                tools,
                outputSchemaJson,
                model,
                maxTurns,
                maxTokens,
                contextTokens,
                deadlineMs,
                maxRepairs,
                compaction);
    }

    /**
     * Template variables whose value is the same in every input (with at least two inputs), with
     * that value as it is rendered. They are hoisted: stated once in the shared prefix instead of in
     * every agent's message.
     */
    public Map<String, String> hoistedValues() {
        Map<String, String> hoisted = new java.util.LinkedHashMap<>();
        if (inputs.size() < 2) {
            return hoisted;
        }
        List<JsonNode> parsed = new ArrayList<>();
        for (String input : inputs) {
            try {
                parsed.add(JSON.readTree(input));
            } catch (IOException e) {
                return hoisted; // the job compiler reports bad input per job
            }
        }
        for (String variable : TaskTemplate.parse(taskTemplate).variables()) {
            JsonNode first = parsed.get(0).get(variable);
            if (first != null && parsed.stream().allMatch(p -> first.equals(p.get(variable)))) {
                hoisted.put(variable, first.isTextual() ? first.asText() : first.toString());
            }
        }
        return hoisted;
    }

    /** The system prompt as the engine sees it: the user's, then the hoisted values once. */
    public String sharedSystemPrompt() {
        Map<String, String> hoisted = hoistedValues();
        if (hoisted.isEmpty()) {
            return systemPrompt;
        }
        StringBuilder prompt = new StringBuilder(systemPrompt);
        prompt.append(systemPrompt.isEmpty() ? "" : "\n\n").append("Shared input, the same for every task:");
        hoisted.forEach(
                (name, value) -> prompt.append('\n').append(name).append(": ").append(value));
        return prompt.toString();
    }

    /** The BatchSpec event for this definition under {@code batchId}. */
    public BatchSpec toSpec(String batchId, long nowMs) {
        return BatchSpec.newBuilder()
                .setBatchId(batchId)
                .setModel(model)
                .setSystemPrompt(sharedSystemPrompt())
                .setHoistedVariables(List.copyOf(hoistedValues().keySet()))
                .setContextTokens(contextTokens)
                .setDeadlineMs(deadlineMs)
                .setMaxRepairs(maxRepairs)
                .setCompaction(compaction)
                .setTaskTemplate(taskTemplate)
                .setTools(tools)
                .setOutputSchemaJson(outputSchemaJson)
                .setMaxTurns(maxTurns)
                .setMaxTokens(maxTokens)
                .setExpectedJobs(inputs.size())
                .setCreatedAtMs(nowMs)
                .setOptions(Map.of())
                .build();
    }

    /**
     * A batch id derived from everything that defines the batch, so that running the same batch
     * again over the same data directory resumes it instead of starting a second one.
     */
    public String derivedBatchId() {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            for (String part : List.of(
                    systemPrompt,
                    taskTemplate,
                    String.valueOf(outputSchemaJson),
                    model,
                    String.valueOf(maxTurns),
                    String.valueOf(maxTokens),
                    tools.toString(),
                    String.valueOf(contextTokens),
                    String.valueOf(deadlineMs),
                    String.valueOf(maxRepairs))) {
                digest.update(part.getBytes(StandardCharsets.UTF_8));
                digest.update((byte) 0);
            }
            if (compaction != null) { // only then, so batches without compaction keep their ids
                digest.update(compaction.toString().getBytes(StandardCharsets.UTF_8));
                digest.update((byte) 0);
            }
            for (String input : inputs) {
                digest.update(input.getBytes(StandardCharsets.UTF_8));
                digest.update((byte) '\n');
            }
            return "batch-" + HexFormat.of().formatHex(digest.digest()).substring(0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads a JSONL file of inputs: one JSON object per non-blank line. */
    public static List<String> readInputs(Path file) throws IOException {
        List<String> inputs = new ArrayList<>();
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) {
                continue;
            }
            JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                throw new IllegalArgumentException(
                        file + " line " + (i + 1) + " is not valid JSON (" + firstLine(e.getOriginalMessage())
                                + "): each line must be one JSON object",
                        e);
            }
            if (!node.isObject()) {
                throw new IllegalArgumentException(
                        file + " line " + (i + 1) + " must be a JSON object of template variables, got "
                                + node.getNodeType().name().toLowerCase(java.util.Locale.ROOT));
            }
            inputs.add(node.toString());
        }
        return inputs;
    }

    /** Reads a JSON Schema file and returns it as canonical JSON. */
    public static String readSchema(Path file) throws IOException {
        String text = Files.readString(file, StandardCharsets.UTF_8);
        JsonNode schema;
        try {
            schema = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(
                    file + " is not valid JSON (" + firstLine(e.getOriginalMessage())
                            + (e.getLocation() == null
                                    ? ""
                                    : " at line " + e.getLocation().getLineNr()) + ")",
                    e);
        }
        if (!schema.isObject()) {
            throw new IllegalArgumentException(file + " must hold a JSON Schema object");
        }
        return CallHash.canonicalJson(text);
    }

    /** The first line of a parser's message: enough for a one-line error that names the file and line. */
    public static String firstLine(String message) {
        if (message == null) {
            return "unreadable";
        }
        int newline = message.indexOf('\n');
        return (newline < 0 ? message : message.substring(0, newline)).strip();
    }
}
