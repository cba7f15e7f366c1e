/**
 * Inference workers: the bounded in-flight consumer of agent-turns ({@link io.batchagent.inference.InferenceWorker}),
 * the rendering of byte-identical shared prefixes ({@link io.batchagent.inference.SharedPrefix}), the mirror of
 * batch specs ({@link io.batchagent.inference.BatchSpecCache}) and the engine clients
 * ({@link io.batchagent.inference.EngineClient}, {@link io.batchagent.inference.OpenAiCompatibleClient}).
 *
 * <p>Nothing here imports Kafka Streams: workers are plain consumers and producers, and the HTTP work
 * stays off every Kafka thread.
 */
package io.batchagent.inference;
