package io.batchagent.tools.limits;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Bounded tool threads with a share per tool, on real threads. */
class ToolThreadsTest {

    private static final Duration WAIT = Duration.ofSeconds(10);

    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    private final ToolThreads threads = new ToolThreads(3, 2, Executors.defaultThreadFactory(), timer);
    private final CountDownLatch release = new CountDownLatch(1);
    private final AtomicInteger running = new AtomicInteger();

    @AfterEach
    void stop() {
        release.countDown();
        threads.close();
        timer.shutdownNow();
    }

    /** A body that ignores interruption until the test releases it. */
    private void stubborn() {
        running.incrementAndGet();
        while (true) {
            try {
                release.await();
                return;
            } catch (InterruptedException ignored) {
                // as a tool stuck in uninterruptible code
            }
        }
    }

    private CompletableFuture<ToolThreads.Run> start(String tool, long deadlineInMs) {
        return threads.start(tool, Instant.now().plusMillis(deadlineInMs), this::stubborn)
                .toCompletableFuture();
    }

    /** Starts two stubborn runs of {@code tool} and interrupts them once both run: they linger. */
    private void lingerTwice(String tool) {
        ToolThreads.Run first = start(tool, 10_000).join();
        ToolThreads.Run second = start(tool, 10_000).join();
        await().atMost(WAIT).until(() -> running.get() == 2);
        first.interrupt();
        second.interrupt();
    }

    @Test
    void shouldKeepAToolsThreadsTakenWhileItsInterruptedRunsLingerAndStartItsNextCallWhenOneEnds() {
        lingerTwice("hung");
        assertThat(threads.lingering()).isEqualTo(2);

        CompletableFuture<ToolThreads.Run> third = start("hung", 10_000);
        CompletableFuture<ToolThreads.Run> other = start("other", 10_000);

        assertThat(other.orTimeout(10, TimeUnit.SECONDS).join())
                .as("other tools keep the rest of the pool")
                .isNotNull();
        assertThat(third).isNotDone();
        release.countDown();
        assertThat(third.orTimeout(10, TimeUnit.SECONDS).join()).isNotNull();
        await().atMost(WAIT).until(() -> threads.lingering() == 0);
        assertThat(threads.peakThreads()).isLessThanOrEqualTo(3);
    }

    @Test
    void shouldFailAWaitingCallAtItsDeadlineSayingWhyNoThreadWasFree() {
        lingerTwice("hung");

        CompletableFuture<ToolThreads.Run> late = start("hung", 200);

        assertThat(late)
                .failsWithin(WAIT)
                .withThrowableOfType(ExecutionException.class)
                .havingCause()
                .isInstanceOf(LimitTimeoutException.class)
                .withMessage(
                        "tool 'hung' could not start before its deadline: no tool thread was free on this worker "
                                + "(2 of the 2 it may hold are busy, 2 of them still running past their timeout; 2 of 3 busy in all)");
    }

    @Test
    void shouldFailWaitingCallsWhenClosed() {
        start("hung", 10_000).join();
        start("hung", 10_000).join();
        CompletableFuture<ToolThreads.Run> waiting = start("hung", 10_000);

        threads.close();

        assertThat(waiting)
                .failsWithin(WAIT)
                .withThrowableOfType(ExecutionException.class)
                .havingCause()
                .isInstanceOf(RejectedExecutionException.class);
        assertThat(threads.start("t", Instant.now().plusSeconds(1), () -> {}).toCompletableFuture())
                .failsWithin(WAIT)
                .withThrowableOfType(ExecutionException.class)
                .havingCause()
                .isInstanceOf(RejectedExecutionException.class);
    }
}
