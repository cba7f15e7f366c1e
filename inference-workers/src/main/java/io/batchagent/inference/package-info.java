/**
 * Inference workers: the bounded in-flight consumer of agent-turns ({@link io.batchagent.inference.InferenceWorker}),
 * the rendering of byte-identical shared prefixes ({@link io.batchagent.inference.SharedPrefix}), the mirror of
 * batch specs ({@link io.batchagent.inference.BatchSpecCache}), the warm-up of each batch's prefix
 * ({@link io.batchagent.inference.BatchWarmer}) and the engine clients.
 *
 * <p>Engines, each spoken in its own wire format ({@link io.batchagent.inference.EngineClients#create} picks the
 * client from the endpoint's kind):
 * <ul>
 *   <li>SGLang, vLLM, Dynamo, the OpenAI API and any OpenAI-compatible server:
 *       {@link io.batchagent.inference.OpenAiCompatibleClient}, shaped per engine by
 *       {@link io.batchagent.inference.OpenAiDialect} after a capability probe;
 *   <li>the Anthropic Messages API: {@link io.batchagent.inference.AnthropicClient};
 *   <li>Amazon Bedrock Converse: {@link io.batchagent.inference.BedrockConverseClient}.
 * </ul>
 * An engine's metrics and cache flush are in {@link io.batchagent.inference.EngineAdmin}.
 *
 * <p>Nothing here imports Kafka Streams: workers are plain consumers and producers, and the HTTP work
 * stays off every Kafka thread.
 */
package io.batchagent.inference;
