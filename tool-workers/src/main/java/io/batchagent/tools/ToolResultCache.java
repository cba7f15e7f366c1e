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

    /**
     * Claims the right to run the call {@code callHash} for {@code lease}, so that two workers
     * never run one cacheable call at the same time (after a rebalance the partition's new owner
     * reads a call its old owner is still running). Completes with {@code true} when
     * {@code owner} holds the claim now, {@code false} while another owner's claim is live. A claim
     * ends when its owner {@linkplain #release releases} it (after storing the result) or when its
     * lease runs out (its owner died). A failed stage means the claim could not be asked for; the
     * worker then runs the call unclaimed, as it runs it uncached. The default claims everything:
     * a cache that is not shared has no one to exclude.
     */
    default CompletionStage<Boolean> claim(String callHash, String owner, Duration lease) {
        return CompletableFuture.completedFuture(true);
    }

    /** Ends {@code owner}'s claim on {@code callHash}, if it still holds it. The default does nothing. */
    default CompletionStage<Void> release(String callHash, String owner) {
        return CompletableFuture.completedFuture(null);
    }

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
