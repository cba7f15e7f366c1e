package io.batchagent.tools.limits;

import io.batchagent.tools.redis.RedisLink;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Consumer;

/**
 * Admits tool executions under each tool's rate limit and concurrency limit.
 *
 * <p>{@link #acquire} completes with a {@link Permit} when the tool may start one execution: a lease
 * on one of its {@code maxConcurrency} slots is held (until {@link Permit#release()}, renewed every
 * half of its time to live meanwhile, so that it passes only if the holder dies) and one token of
 * its rate bucket was taken. The holder releases the permit when the execution really ends, not
 * when its call times out, so an execution that outlives its timeout still counts. It
 * never blocks a thread: waiting is done by rescheduling on a timer. It fails with
 * {@link LimitTimeoutException} when the deadline passes first.
 *
 * <p>{@link #shared} keeps the limits in Redis, so they hold for all tool workers together, in any
 * number of processes; while Redis cannot be used each worker falls back to limits of its own
 * (which then hold per worker, not in total) and reports the fallback. {@link #local} keeps them in
 * this process only. Thread-safe.
 */
public interface ToolLimiter extends AutoCloseable {

    /**
     * The limits of one tool.
     *
     * @param ratePerSecond executions started per second, at most; 0 for no limit. The bucket holds
     *     one token, so starts are spaced by {@code 1 / ratePerSecond} (no burst)
     * @param maxConcurrency executions running at once, at most; 0 for no limit
     * @param leaseTtl how long a concurrency slot stays taken if its holder never releases it (a
     *     crashed worker); should exceed the tool's timeout
     */
    record Limits(double ratePerSecond, int maxConcurrency, Duration leaseTtl) {
        public Limits {
            if (ratePerSecond < 0 || Double.isNaN(ratePerSecond) || Double.isInfinite(ratePerSecond)) {
                throw new IllegalArgumentException(
                        "ratePerSecond must be 0 (no limit) or a positive number, got " + ratePerSecond);
            }
            if (maxConcurrency < 0) {
                throw new IllegalArgumentException(
                        "maxConcurrency must be 0 (no limit) or positive, got " + maxConcurrency);
            }
            if (leaseTtl == null || leaseTtl.toMillis() < 1) {
                throw new IllegalArgumentException("leaseTtl must be at least 1 ms, got " + leaseTtl);
            }
        }

        public boolean unlimited() {
            return ratePerSecond == 0 && maxConcurrency == 0;
        }
    }

    /** The right to run one execution; {@link #release()} is idempotent. */
    @FunctionalInterface
    interface Permit {
        Permit NONE = () -> {};

        void release();
    }

    /** Waits for a permit to run one execution of {@code tool}; see the class documentation. */
    CompletionStage<Permit> acquire(String tool, Limits limits, Instant deadline);

    @Override
    default void close() {}

    /** A limiter that admits every execution at once. */
    static ToolLimiter unlimited() {
        return (tool, limits, deadline) -> CompletableFuture.completedFuture(Permit.NONE);
    }

    /** Limits kept in this process, for a single worker (the embedded default). */
    static ToolLimiter local(ScheduledExecutorService timer) {
        return new ToolLimits(null, timer, error -> {});
    }

    /**
     * Limits kept in Redis, shared by every worker that uses the same Redis and key prefix.
     *
     * @param onFallback called (on some thread) each time Redis could not be used and the local limits
     *     stood in
     */
    static ToolLimiter shared(RedisLink link, ScheduledExecutorService timer, Consumer<Throwable> onFallback) {
        return new ToolLimits(new RedisLimitBackend(link), timer, onFallback);
    }
}
