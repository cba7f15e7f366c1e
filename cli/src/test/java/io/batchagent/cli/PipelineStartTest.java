package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * {@link Pipeline#startSideBySide}, with fake stages: whatever stops the start (a stage that fails, the
 * starting thread interrupted), every stage that another thread started is closed, once, last first.
 */
class PipelineStartTest {

    private static final Set<Stage> STAGES = EnumSet.of(Stage.TOOLS, Stage.JOB_COMPILER, Stage.INFERENCE);

    /** Fake stages: each start is recorded, and closing one records its name. */
    private static final class FakeStages {
        final Set<Stage> started = ConcurrentHashMap.newKeySet();
        final List<String> closed = new CopyOnWriteArrayList<>();

        List<AutoCloseable> start(Stage stage) {
            started.add(stage);
            return List.of(() -> closed.add(stage.roleName()));
        }
    }

    @Test
    void shouldCloseEveryStartedStageWhenTheStartingThreadIsInterruptedWhileAStageStillStarts() throws Exception {
        FakeStages fakes = new FakeStages();
        CountDownLatch jobCompilerGate = new CountDownLatch(1);
        Function<Stage, List<AutoCloseable>> start = stage -> {
            if (stage == Stage.JOB_COMPILER) {
                awaitUninterruptibly(jobCompilerGate);
            }
            return fakes.start(stage);
        };
        CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        CompletableFuture<Boolean> interruptKept = new CompletableFuture<>();
        Thread starting = new Thread(() -> {
            try {
                List<AutoCloseable> parts = Pipeline.startSideBySide(STAGES, start);
                outcome.complete(new AssertionError("started despite the interrupt: " + parts.size() + " parts"));
            } catch (Throwable e) {
                outcome.complete(e);
            }
            interruptKept.complete(Thread.currentThread().isInterrupted());
        });

        // Given the tool and inference workers started, while the job compiler still starts
        starting.start();
        await().atMost(Duration.ofSeconds(30))
                .until(() -> fakes.started.containsAll(EnumSet.of(Stage.TOOLS, Stage.INFERENCE))
                        && starting.getState() == Thread.State.WAITING);

        // When the starting thread is interrupted, and the job compiler then finishes its start
        starting.interrupt();
        jobCompilerGate.countDown();
        starting.join(TimeUnit.SECONDS.toMillis(30));

        // Then the start fails, keeping the interrupt, and all three stages were closed, last first
        assertThat(outcome.getNow(null))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("interrupted");
        assertThat(interruptKept.getNow(false)).isTrue();
        assertThat(fakes.started).isEqualTo(STAGES);
        assertThat(fakes.closed).containsExactly("inference", "job-compiler", "tools");
    }

    @Test
    void shouldCloseEveryStageWhenTheStartingThreadWasInterruptedBeforeTheStart() {
        FakeStages fakes = new FakeStages();

        Thread.currentThread().interrupt();
        Throwable thrown;
        try {
            thrown = catchThrowable(() -> Pipeline.startSideBySide(STAGES, fakes::start));
        } finally {
            assertThat(Thread.interrupted()).as("interrupt kept").isTrue();
        }

        assertThat(thrown).isInstanceOf(IllegalStateException.class).hasMessageContaining("interrupted");
        assertThat(fakes.closed).containsExactly("inference", "job-compiler", "tools");
    }

    @Test
    void shouldCloseTheStagesThatStartedWhenAnotherFailsWhileOneStillStarts() {
        FakeStages fakes = new FakeStages();
        CountDownLatch failed = new CountDownLatch(1);
        Function<Stage, List<AutoCloseable>> start = stage -> {
            if (stage == Stage.INFERENCE) {
                failed.countDown();
                throw new IllegalStateException("engine refused");
            }
            if (stage == Stage.JOB_COMPILER) {
                // Still starting when the inference worker has failed.
                awaitUninterruptibly(failed);
            }
            return fakes.start(stage);
        };

        assertThatThrownBy(() -> Pipeline.startSideBySide(STAGES, start)).hasMessage("engine refused");

        assertThat(fakes.started).containsExactlyInAnyOrder(Stage.TOOLS, Stage.JOB_COMPILER);
        assertThat(fakes.closed).containsExactly("job-compiler", "tools");
    }

    private static void awaitUninterruptibly(CountDownLatch latch) {
        boolean interrupted = false;
        while (true) {
            try {
                latch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
