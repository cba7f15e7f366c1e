package io.batchagent.tools;

import io.batchagent.events.ToolResult;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Results of cacheable tool calls, by call hash, each kept for the TTL its batch's
 * {@code ToolSpec.cacheTtlMs} gave it.
 *
 * <p>The operations are asynchronous because the worker calls {@link #get} on its consumer's poll
 * thread, which must not block: an implementation over the network (Redis) completes the stage
 * when the answer arrives. A failed stage is treated by the worker as a miss (for {@code get}) or
 * a lost write (for {@code put}); it never fails a call.
 *
 * <p>Implementations are thread-safe and must not hand out an instance that a caller could
 * mutate into the cache (Avro records are mutable): copy on the way in or out, or serialise.
 */
public interface ToolResultCache extends AutoCloseable {

    /** The result stored for {@code callHash}, if one is stored and not expired. */
    CompletionStage<Optional<ToolResult>> get(String callHash);

    /** Stores {@code result} for {@code callHash} for {@code ttl}, replacing any earlier one. */
    CompletionStage<Void> put(String callHash, ToolResult result, Duration ttl);

    /** Releases the cache's resources. The default does nothing. */
    @Override
    default void close() {}

    /** A cache that stores nothing: every call runs. */
    static ToolResultCache none() {
        return new ToolResultCache() {
            @Override
            public CompletionStage<Optional<ToolResult>> get(String callHash) {
                return CompletableFuture.completedFuture(Optional.empty());
            }

            @Override
            public CompletionStage<Void> put(String callHash, ToolResult result, Duration ttl) {
                return CompletableFuture.completedFuture(null);
            }
        };
    }
}
