package io.batchagent.inference;

import java.util.concurrent.CompletableFuture;

/**
 * Sends one chat completion request to an inference engine.
 *
 * <p>Contract: {@link #complete} does not block the caller, and the returned future never completes
 * exceptionally because of the engine or the network. HTTP errors, timeouts, refused connections and
 * malformed answers are data: a {@link ChatResponse} whose {@link ChatResponse#failure()} says what
 * went wrong. An exceptional completion means a bug in the client.
 *
 * <p>Implementations are thread-safe: many calls may be in flight at once.
 */
public interface EngineClient {

    /** Starts the model call described by {@code request}. */
    CompletableFuture<ChatResponse> complete(ChatRequest request);
}
