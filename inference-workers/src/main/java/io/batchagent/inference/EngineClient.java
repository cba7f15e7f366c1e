package io.batchagent.inference;

import java.util.concurrent.CompletableFuture;

/**
 * Sends one model call to an inference engine.
 *
 * <p>Contract: {@link #complete} does not block the caller, and the returned future never completes
 * exceptionally because of the engine or the network. HTTP errors, timeouts, refused or dropped
 * connections and malformed answers are data: a {@link ChatResponse} whose {@link ChatResponse#failure()}
 * says what went wrong (with the engine's own message where it sent one). An exceptional completion
 * means a bug in the client. Retriable failures (HTTP 429/502/503/504 with {@code Retry-After} honoured,
 * connections refused or lost mid-stream, broken event streams) have already been retried a bounded
 * number of times with jittered backoff when the response comes back.
 *
 * <p>Implementations are thread-safe: many calls may be in flight at once, and a failing or slow call
 * never holds up another.
 */
public interface EngineClient {

    /** Starts the model call described by {@code request}. */
    CompletableFuture<ChatResponse> complete(ChatRequest request);

    /**
     * What the engine accepts and reports for {@code model}, probed once per model and then remembered
     * (the probe is logged once). Never completes exceptionally: a probe that fails yields capabilities
     * that send nothing optional. The default knows nothing.
     */
    default CompletableFuture<EngineCapabilities> capabilities(String model) {
        return CompletableFuture.completedFuture(EngineCapabilities.unknown());
    }
}
