package io.batchagent.gateway;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.inference.EngineCapabilities;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.SchedulingHints;

/**
 * Adds BatchAgent's scheduling hints to a client's request body, in the engine's dialect, as the inference
 * workers' rendering does for their own agents: only fields the engine's capability probe saw accepted,
 * and after the messages, so that they never change the shared prefix.
 *
 * <table>
 *   <caption>What is added, by engine kind (semantic priority p: 1 for a session's later calls, 0 for its first)</caption>
 *   <tr><th>kind</th><th>field</th></tr>
 *   <tr><td>sglang</td><td>{@code "priority": p} (higher first), when accepted</td></tr>
 *   <tr><td>vllm</td><td>{@code "priority": 1 - p} (lower first), when accepted</td></tr>
 *   <tr><td>dynamo</td><td>{@code "nvext": {"agent_hints": {"priority": p, "speculative_prefill": true}}}, when accepted</td></tr>
 *   <tr><td>openai</td><td>{@code "prompt_cache_key": <batch id>} unless the client set one</td></tr>
 *   <tr><td>others</td><td>nothing</td></tr>
 * </table>
 * A client's own {@code priority} is replaced: the gateway owns the order of its calls.
 */
final class EngineHints {

    private EngineHints() {}

    static void apply(
            ObjectNode body, EngineEndpoint.Kind kind, EngineCapabilities capabilities, int priority, String batchId) {
        switch (kind) {
            case SGLANG -> {
                body.remove("priority");
                if (capabilities.priority()) {
                    body.put("priority", priority);
                }
            }
            case VLLM -> {
                body.remove("priority");
                if (capabilities.priority()) {
                    body.put("priority", SchedulingHints.CONTINUING_AGENT - priority);
                }
            }
            case DYNAMO -> {
                if (capabilities.nvext()) {
                    ObjectNode hints = body.putObject("nvext").putObject("agent_hints");
                    hints.put("priority", priority);
                    // An external agent's session may always take another step.
                    hints.put("speculative_prefill", true);
                }
            }
            case OPENAI -> {
                if (!body.has("prompt_cache_key")) {
                    body.put("prompt_cache_key", batchId);
                }
            }
            default -> {
                // Generic endpoints get the client's body as it came.
            }
        }
    }
}
