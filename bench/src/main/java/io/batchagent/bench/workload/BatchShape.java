package io.batchagent.bench.workload;

import io.batchagent.events.BatchSpec;
import io.batchagent.events.ToolSpec;
import io.batchagent.schemas.TaskTemplate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One benchmark batch: what both conditions run. The BatchAgent condition publishes it as a
 * {@link BatchSpec} plus one job per input; the raw loop renders the same spec and the same per-job
 * messages (with the job compiler's {@link TaskTemplate}).
 */
public record BatchShape(
        String systemPrompt,
        String taskTemplate,
        List<String> inputs,
        List<ToolSpec> tools,
        String outputSchemaJson,
        String model,
        int maxTurns,
        int maxTokens) {

    public BatchShape {
        inputs = List.copyOf(inputs);
        tools = List.copyOf(tools);
    }

    public BatchSpec toSpec(String batchId) {
        return BatchSpec.newBuilder()
                .setBatchId(batchId)
                .setModel(model)
                .setSystemPrompt(systemPrompt)
                .setTaskTemplate(taskTemplate)
                .setTools(tools)
                .setOutputSchemaJson(outputSchemaJson)
                .setMaxTurns(maxTurns)
                .setMaxTokens(maxTokens)
                .setExpectedJobs(inputs.size())
                .setCreatedAtMs(System.currentTimeMillis())
                .setOptions(Map.of())
                // The raw loop has no repair turns; neither condition may make extra calls.
                .setMaxRepairs(0)
                .build();
    }

    /** The first user message of every job, as the job compiler renders it. */
    public List<String> userMessages() {
        TaskTemplate template = TaskTemplate.parse(taskTemplate);
        List<String> out = new ArrayList<>();
        for (String input : inputs) {
            try {
                out.add(template.render(input));
            } catch (TaskTemplate.RenderException e) {
                throw new IllegalArgumentException(
                        "input " + input + " does not fill the template: " + e.getMessage(), e);
            }
        }
        return out;
    }

    public BatchShape withInputs(List<String> newInputs) {
        return new BatchShape(
                systemPrompt, taskTemplate, newInputs, tools, outputSchemaJson, model, maxTurns, maxTokens);
    }

    /** A tool declaration. */
    public static ToolSpec tool(
            String name,
            String description,
            String parametersJson,
            long timeoutMs,
            boolean cacheable,
            long cacheTtlMs) {
        return ToolSpec.newBuilder()
                .setName(name)
                .setDescription(description)
                .setParametersJson(io.batchagent.schemas.CallHash.canonicalJson(parametersJson))
                .setTimeoutMs(timeoutMs)
                .setCacheable(cacheable)
                .setCacheTtlMs(cacheTtlMs)
                .setCoalesce(true)
                .setMaxOutputChars(16_384)
                .build();
    }
}
