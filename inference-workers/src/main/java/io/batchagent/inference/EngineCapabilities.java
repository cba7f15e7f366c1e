package io.batchagent.inference;

import java.util.List;
import java.util.Objects;

/**
 * What an engine was found to accept and report, by the client's capability probe at its first use for a
 * model (see {@link OpenAiCompatibleClient}). Clients adapt to it: a field the engine rejected is never
 * sent, and a warm-up is verified only where cached tokens are reported.
 *
 * @param probed whether the engine answered a probe; false means the values are what the engine kind
 *     documents, or that the probe went unanswered (the client then probes again at its next call)
 * @param models model ids the engine lists ({@code GET /v1/models}); empty when it lists none or the list
 *     could not be read
 * @param metricsFamily the engine metric family {@code GET /metrics} exposes ({@code sglang}, {@code vllm},
 *     {@code sim}), or null when there is no such page
 * @param priority whether the engine accepts a per-request priority in its dialect (vLLM only with
 *     {@code --scheduling-policy priority}; SGLang's is honoured with
 *     {@code --enable-priority-scheduling})
 * @param nvext whether the engine accepts Dynamo's {@code nvext.agent_hints}
 * @param reportsCachedTokens whether answers carry a cached-token figure: {@link Report#YES}, {@link Report#NO},
 *     or {@link Report#UNKNOWN} until an answer shows it
 * @param notes what the probe found, for the one log line; never a credential
 */
public record EngineCapabilities(
        boolean probed,
        List<String> models,
        String metricsFamily,
        boolean priority,
        boolean nvext,
        Report reportsCachedTokens,
        String notes) {

    /** Whether the engine reports something. */
    public enum Report {
        YES,
        NO,
        UNKNOWN
    }

    public EngineCapabilities {
        models = models == null ? List.of() : List.copyOf(models);
        Objects.requireNonNull(reportsCachedTokens, "reportsCachedTokens");
        notes = notes == null ? "" : notes;
    }

    /** Nothing probed, nothing optional sent. */
    public static EngineCapabilities unknown() {
        return new EngineCapabilities(false, List.of(), null, false, false, Report.UNKNOWN, "not probed");
    }

    /** What a hosted API documents (OpenAI, Anthropic, Bedrock): cached tokens reported, no priority. */
    static EngineCapabilities documented(String notes) {
        return new EngineCapabilities(false, List.of(), null, false, false, Report.YES, notes);
    }
}
