package io.batchagent.inference;

/** Creates the {@link EngineClient} an endpoint's kind calls for. */
public final class EngineClients {

    private EngineClients() {}

    /**
     * The client for {@code endpoint}: {@link OpenAiCompatibleClient} (in the kind's dialect) for
     * {@code sglang://}, {@code vllm://}, {@code dynamo://}, {@code openai://}, {@code openai-compatible://}
     * and http(s) URLs; {@link AnthropicClient} for {@code anthropic://}; {@link BedrockConverseClient} (the
     * SDK's default AWS credentials chain) for {@code bedrock://region}. The caller closes it.
     *
     * @param config timeout, retries, pool size and API key
     */
    public static CloseableEngineClient create(EngineEndpoint endpoint, InferenceWorkerConfig config) {
        return switch (endpoint.kind()) {
            case ANTHROPIC -> new AnthropicClient(endpoint, config);
            case BEDROCK -> new BedrockConverseClient(endpoint, config);
            case OPENAI_COMPATIBLE, SGLANG, VLLM, DYNAMO, OPENAI -> new OpenAiCompatibleClient(endpoint, config);
        };
    }
}
