package io.batchagent.tools.limits;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The waiting logic, over the in-process backend. */
class ToolLimitsTest {

    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    private final ToolLimiter limiter = ToolLimiter.local(timer);

    @AfterEach
    void stop() {
        timer.shutdownNow();
    }

    @Test
    void shouldSpaceStartsByOneOverTheRate() {
        ToolLimiter.Limits limits = new ToolLimiter.Limits(20, 0, Duration.ofSeconds(10));
        List<Long> granted = new ArrayList<>();
        Instant deadline = Instant.now().plusSeconds(10);

        for (int i = 0; i < 6; i++) {
            limiter.acquire("t", limits, deadline).toCompletableFuture().join();
            granted.add(System.nanoTime());
        }

        double spanMs = TimeUnit.NANOSECONDS.toMillis(granted.get(5) - granted.get(0));
        // A lower bound only: the limiter must space starts; how much later they come depends on the machine's load.
        assertThat(spanMs).as("5 intervals of 50 ms").isGreaterThanOrEqualTo(225.0);
    }

    @Test
    void shouldAdmitNoMoreThanTheConcurrencyLimitUntilAPermitIsReleased() {
        ToolLimiter.Limits limits = new ToolLimiter.Limits(0, 2, Duration.ofSeconds(10));
        Instant deadline = Instant.now().plusSeconds(10);
        ToolLimiter.Permit first =
                limiter.acquire("t", limits, deadline).toCompletableFuture().join();
        limiter.acquire("t", limits, deadline).toCompletableFuture().join();

        CompletableFuture<ToolLimiter.Permit> third =
                limiter.acquire("t", limits, deadline).toCompletableFuture();
        assertThat(third).isNotDone();
        assertThat(limiter.acquire("other", limits, deadline)
                        .toCompletableFuture()
                        .join())
                .isNotNull();

        first.release();
        first.release(); // idempotent: must not free a second slot
        assertThat(third.orTimeout(5, TimeUnit.SECONDS).join()).isNotNull();
        assertThat(limiter.acquire("t", limits, Instant.now().plusMillis(100)).toCompletableFuture())
                .failsWithin(Duration.ofSeconds(5));
    }

    @Test
    void shouldFailWithATimeoutThatNamesTheLimitsWhenTheDeadlinePasses() {
        ToolLimiter.Limits limits = new ToolLimiter.Limits(0.5, 1, Duration.ofSeconds(10));
        limiter.acquire("slow_api", limits, Instant.now().plusSeconds(5))
                .toCompletableFuture()
                .join();

        assertThatThrownBy(
                        () -> limiter.acquire("slow_api", limits, Instant.now().plusMillis(150))
                                .toCompletableFuture()
                                .join())
                .isInstanceOf(CompletionException.class)
                .hasCauseInstanceOf(LimitTimeoutException.class)
                .hasMessageContaining(
                        "tool 'slow_api' could not start before its deadline: its concurrency limit 1 and rate limit 0.5/s");
    }

    @Test
    void shouldKeepAHeldSlotPastItsLeaseTimeToLiveUntilReleased() {
        assertHeldSlotOutlivesItsLease(limiter);
    }

    /** A lease of 1 s held for 2.5 s: unless renewed, it would lapse and admit a second execution. */
    static void assertHeldSlotOutlivesItsLease(ToolLimiter limiter) {
        ToolLimiter.Limits limits = new ToolLimiter.Limits(0, 1, Duration.ofSeconds(1));
        ToolLimiter.Permit held = limiter.acquire(
                        "lingering", limits, Instant.now().plusSeconds(10))
                .toCompletableFuture()
                .join();

        assertThatThrownBy(
                        () -> limiter.acquire("lingering", limits, Instant.now().plusMillis(2_500))
                                .toCompletableFuture()
                                .join())
                .hasCauseInstanceOf(LimitTimeoutException.class);

        held.release();
        assertThat(limiter.acquire("lingering", limits, Instant.now().plusSeconds(10))
                        .toCompletableFuture()
                        .join())
                .isNotNull();
    }

    @Test
    void shouldAdmitAtOnceWithoutLimits() {
        assertThat(limiter.acquire("t", new ToolLimiter.Limits(0, 0, Duration.ofSeconds(1)), Instant.now()))
                .isCompletedWithValue(ToolLimiter.Permit.NONE);
        assertThatThrownBy(() -> new ToolLimiter.Limits(-1, 0, Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
