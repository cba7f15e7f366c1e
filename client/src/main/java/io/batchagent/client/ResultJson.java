package io.batchagent.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.events.AgentResult;
import java.io.IOException;

/** Writes a result as one JSON object: the line format of {@code --output results.jsonl}. */
public final class ResultJson {

    private static final ObjectMapper JSON = new ObjectMapper();

    private ResultJson() {}

    public static String toJson(AgentResult result) {
        ObjectNode node = JSON.createObjectNode();
        node.put("job_id", result.getJobId());
        node.put("batch_id", result.getBatchId());
        node.put("index", result.getIndex());
        node.put("status", result.getStatus().name());
        node.set("output", parse(result.getOutputJson()));
        if (result.getError() != null) {
            node.putObject("error")
                    .put("reason", result.getError().getReason().name())
                    .put("message", result.getError().getMessage());
        } else {
            node.putNull("error");
        }
        if (result.getRawOutput() != null) {
            node.put("raw_output", result.getRawOutput());
        }
        node.put("turns", result.getTurns());
        node.put("tool_calls_requested", result.getToolCallsRequested());
        node.putObject("usage")
                .put("prompt_tokens", result.getUsage().getPromptTokens())
                .put("cached_prompt_tokens", result.getUsage().getCachedPromptTokens())
                .put("completion_tokens", result.getUsage().getCompletionTokens())
                .put("model_calls", result.getUsage().getModelCalls());
        ObjectNode timings = node.putObject("timings_ms");
        timings.put("queued", result.getTimings().getQueuedMs());
        if (result.getTimings().getFirstTokenMs() != null) {
            timings.put("first_token", result.getTimings().getFirstTokenMs());
        } else {
            timings.putNull("first_token");
        }
        timings.put("model", result.getTimings().getModelMs())
                .put("tool_wait", result.getTimings().getToolWaitMs())
                .put("total", result.getTimings().getTotalMs());
        return node.toString();
    }

    private static JsonNode parse(String json) {
        if (json == null) {
            return JSON.nullNode();
        }
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            return JSON.getNodeFactory().textNode(json);
        }
    }
}
