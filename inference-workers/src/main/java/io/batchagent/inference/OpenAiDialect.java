package io.batchagent.inference;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;
import java.util.Map;

/**
 * How one OpenAI-compatible engine wants a chat completions request: the shape of the shared part and
 * the per-call fields after the messages. Every dialect renders the same shared prefix for every agent of
 * a batch; per-call fields come after the messages, so they never break it.
 *
 * <table>
 *   <caption>What each dialect sends</caption>
 *   <tr><th>dialect</th><th>priority (semantic p: 1 continuing, 0 new)</th><th>other</th></tr>
 *   <tr><td>GENERIC</td><td>none</td><td>the original layout, nothing else</td></tr>
 *   <tr><td>SGLANG</td><td>{@code "priority": p}, higher first, when the probe saw it accepted</td>
 *       <td>{@code tool_choice}, {@code response_format} json_schema only without tools</td></tr>
 *   <tr><td>VLLM</td><td>{@code "priority": 1 - p}, lower first, only when accepted (vLLM rejects any
 *       non-zero value unless started with {@code --scheduling-policy priority})</td>
 *       <td>{@code tool_choice}, {@code response_format} json_schema only without tools</td></tr>
 *   <tr><td>DYNAMO</td><td>{@code "nvext":{"agent_hints":{"priority": p, ...}}}, higher first, never
 *       negated, when accepted</td><td>agent_hints limited to {@code priority}, {@code osl},
 *       {@code speculative_prefill}; header {@code X-Dynamo-Session-ID} = job id; prompt-only output schema</td></tr>
 *   <tr><td>OPENAI</td><td>none</td><td>{@code max_completion_tokens}, {@code prompt_cache_key} = batch id,
 *       {@code response_format} json_schema only without tools</td></tr>
 * </table>
 *
 * <p>A batch option {@value #STRUCTURED_OUTPUT_OPTION}{@code =prompt} turns {@code response_format} off
 * (the schema is then only in the prompt, as always). A warm-up is sent without hints, not streamed, with
 * one output token; the OpenAI API still gets its {@code prompt_cache_key}, which routes it to the cache
 * the agents will use.
 */
enum OpenAiDialect {
    GENERIC(false),
    SGLANG(true),
    VLLM(true),
    DYNAMO(false),
    OPENAI(true);

    /** BatchSpec option: {@code auto} (default) or {@code prompt} (never send {@code response_format}). */
    static final String STRUCTURED_OUTPUT_OPTION = "structured_output";

    static final String DYNAMO_SESSION_HEADER = "X-Dynamo-Session-ID";

    private final boolean responseFormat;

    OpenAiDialect(boolean responseFormat) {
        this.responseFormat = responseFormat;
    }

    static OpenAiDialect of(EngineEndpoint.Kind kind) {
        return switch (kind) {
            case SGLANG -> SGLANG;
            case VLLM -> VLLM;
            case DYNAMO -> DYNAMO;
            case OPENAI -> OPENAI;
            case OPENAI_COMPATIBLE -> GENERIC;
            case ANTHROPIC, BEDROCK -> throw new IllegalArgumentException(kind + " does not speak chat completions");
        };
    }

    /** The request body of {@code prompt} for an engine with {@code capabilities}. */
    byte[] render(AgentPrompt prompt, EngineCapabilities capabilities) {
        SharedPrefix.Shape shape = shape(prompt);
        SharedPrefix prefix =
                prompt.batch().rendering(new PrefixKey(this, shape), () -> SharedPrefix.of(prompt.spec(), shape));
        return prefix.render(prompt.messages(), perCall(prompt, capabilities));
    }

    /** Headers of this call beyond the client's own (content type, API key). */
    Map<String, String> headers(ChatRequest request) {
        if (this == DYNAMO && request.prompt() != null && !request.prompt().isWarmUp()) {
            return Map.of(DYNAMO_SESSION_HEADER, request.jobId());
        }
        return Map.of();
    }

    /** The value of the {@code priority} field for the semantic priority, in this dialect's polarity. */
    int priorityValue(int semantic) {
        return this == VLLM ? SchedulingHints.CONTINUING_AGENT - semantic : semantic;
    }

    /** Whether the capability probe must find out if the engine accepts a per-request priority. */
    boolean probesPriority() {
        return this == SGLANG || this == VLLM;
    }

    SharedPrefix.Shape shape(AgentPrompt prompt) {
        if (this == GENERIC) {
            return prompt.isWarmUp()
                    ? new SharedPrefix.Shape(false, "max_tokens", 1, false, false)
                    : SharedPrefix.Shape.DEFAULT;
        }
        String maxTokensField = this == OPENAI ? "max_completion_tokens" : "max_tokens";
        boolean constrain = responseFormat && !prompt.isWarmUp() && structuredOutputAllowed(prompt);
        return new SharedPrefix.Shape(prompt.stream(), maxTokensField, prompt.isWarmUp() ? 1 : null, true, constrain);
    }

    /** Fields after the messages; empty for none. */
    ObjectNode perCall(AgentPrompt prompt, EngineCapabilities capabilities) {
        ObjectNode fields = JsonNodeFactory.instance.objectNode();
        if (this == OPENAI) {
            fields.put("prompt_cache_key", prompt.batchId());
        }
        if (prompt.isWarmUp()) {
            return fields;
        }
        SchedulingHints hints = prompt.hints();
        if (probesPriority() && capabilities.priority()) {
            fields.put("priority", priorityValue(hints.priority()));
        }
        if (this == DYNAMO && capabilities.nvext()) {
            ObjectNode agentHints = fields.putObject("nvext").putObject("agent_hints");
            agentHints.put("priority", hints.priority());
            hints.expectedOutputTokens().ifPresent(osl -> agentHints.put("osl", osl));
            agentHints.put("speculative_prefill", hints.moreTurnsPossible());
        }
        return fields;
    }

    private static boolean structuredOutputAllowed(AgentPrompt prompt) {
        String option = prompt.spec().getOptions() == null
                ? null
                : prompt.spec().getOptions().get(STRUCTURED_OUTPUT_OPTION);
        return option == null || !option.trim().toLowerCase(Locale.ROOT).equals("prompt");
    }

    /** Identifies a dialect's rendering of a batch's shared prefix in one shape. */
    private record PrefixKey(OpenAiDialect dialect, SharedPrefix.Shape shape) {}
}
