package io.batchagent.sdk;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.client.BatchDefinition;
import io.batchagent.client.CompactionSettings;
import io.batchagent.events.CompactionMode;
import io.batchagent.events.CompactionPolicy;
import io.batchagent.events.ToolSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What to run: a task template over a list of inputs, with tools and an output schema. Built with
 * {@link #builder(OutputSchema)}; {@code build()} checks the spec and fails at once with a specific
 * message (empty template, malformed placeholder, an input that is not an object, duplicate tools,
 * nonsensical limits).
 */
public final class AgentSpec<T> {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final BatchDefinition definition;
    private final OutputSchema<T> output;
    private final String batchId;

    private AgentSpec(BatchDefinition definition, OutputSchema<T> output, String batchId) {
        this.definition = definition;
        this.output = output;
        this.batchId = batchId;
    }

    public static <T> Builder<T> builder(OutputSchema<T> output) {
        return new Builder<>(output);
    }

    public BatchDefinition definition() {
        return definition;
    }

    public OutputSchema<T> output() {
        return output;
    }

    /** The batch id: given, or derived from the content (so rerunning the same spec resumes it). */
    public String batchId() {
        return batchId != null ? batchId : definition.derivedBatchId();
    }

    public static final class Builder<T> {
        private final OutputSchema<T> output;
        private String system = "";
        private String task;
        private final List<String> inputs = new ArrayList<>();
        private final List<ToolSpec> tools = new ArrayList<>();
        private String model = "sim-model";
        private int maxTurns = 4;
        private int maxTokens = 1024;
        private int contextTokens;
        private Duration deadline = Duration.ZERO;
        private String batchId;
        private int maxRepairs = 2;
        private CompactionPolicy compaction;

        private Builder(OutputSchema<T> output) {
            this.output = Objects.requireNonNull(output, "output schema");
        }

        public Builder<T> system(String prompt) {
            this.system = prompt;
            return this;
        }

        public Builder<T> task(String template) {
            this.task = template;
            return this;
        }

        public Builder<T> model(String name) {
            this.model = name;
            return this;
        }

        public Builder<T> maxTurns(int turns) {
            this.maxTurns = turns;
            return this;
        }

        public Builder<T> maxTokens(int tokens) {
            this.maxTokens = tokens;
            return this;
        }

        public Builder<T> contextTokens(int tokens) {
            this.contextTokens = tokens;
            return this;
        }

        public Builder<T> deadline(Duration perAgent) {
            this.deadline = perAgent;
            return this;
        }

        public Builder<T> batchId(String id) {
            this.batchId = id;
            return this;
        }
        /** Repair turns for an answer that fails the output schema (default 2). */
        public Builder<T> maxRepairs(int repairs) {
            this.maxRepairs = repairs;
            return this;
        }
        /** Compaction with the defaults of {@link CompactionSettings}: NONE, TRUNCATE or SUMMARIZE. */
        public Builder<T> compaction(CompactionMode mode) {
            this.compaction = CompactionSettings.of(mode.name(), null, null, null);
            return this;
        }
        /** Compaction with every setting chosen; null for none. */
        public Builder<T> compaction(CompactionPolicy policy) {
            this.compaction = policy;
            return this;
        }

        public Builder<T> tool(ToolSpec tool) {
            this.tools.add(tool);
            return this;
        }

        public Builder<T> tools(List<ToolSpec> specs) {
            this.tools.addAll(specs);
            return this;
        }

        /** Adds inputs: maps (or records/beans) of template variables, converted to JSON objects. */
        public Builder<T> inputs(List<?> values) {
            for (Object value : values) {
                var node = value instanceof String text ? parse(text) : JSON.valueToTree(value);
                if (!node.isObject()) {
                    throw new IllegalArgumentException("input #" + (inputs.size() + 1)
                            + " must be an object of template variables, got " + node.getNodeType());
                }
                inputs.add(node.toString());
            }
            return this;
        }

        /** Adds one input given as key/value pairs. */
        public Builder<T> input(Map<String, ?> variables) {
            return inputs(List.of(variables));
        }

        private static com.fasterxml.jackson.databind.JsonNode parse(String text) {
            try {
                return JSON.readTree(text);
            } catch (java.io.IOException e) {
                throw new IllegalArgumentException("an input is not valid JSON: " + e.getMessage(), e);
            }
        }

        public AgentSpec<T> build() {
            if (inputs.isEmpty()) {
                throw new IllegalArgumentException("a spec needs at least one input");
            }
            return buildStage();
        }

        /** Builds a spec whose inputs come from a workflow (map and reduce stages): inputs may be empty. */
        public AgentSpec<T> buildStage() {
            BatchDefinition definition = new BatchDefinition(
                    system,
                    task,
                    inputs,
                    tools,
                    output.jsonSchema(),
                    model,
                    maxTurns,
                    maxTokens,
                    contextTokens,
                    deadline.toMillis(),
                    maxRepairs,
                    compaction);
            return new AgentSpec<>(definition, output, batchId);
        }
    }
}
