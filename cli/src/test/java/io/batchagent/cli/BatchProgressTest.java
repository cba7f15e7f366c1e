package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.client.BatchClient;
import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.JobStatus;
import io.batchagent.events.Timings;
import io.batchagent.events.ToolCallRef;
import io.batchagent.events.Usage;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Progress and stall detection, on a clock the test moves. */
class BatchProgressTest {

    private static final long STARTED_AT_MS = 1_000_000;
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final AtomicLong nanos = new AtomicLong();
    private final BatchProgress progress = new BatchProgress(nanos::get, STARTED_AT_MS);

    private void elapse(Duration duration) {
        nanos.addAndGet(duration.toNanos());
    }

    private void submit(String... jobIds) {
        progress.submitted(new BatchClient.Submission("b", List.of(jobIds), 0, 0, jobIds.length, java.util.Map.of()));
    }

    private static AgentTurn turn(String jobId, String... pendingTools) {
        return AgentTurn.newBuilder()
                .setJobId(jobId)
                .setBatchId("b")
                .setIndex(0)
                .setTurn(1)
                .setMessages(List.of())
                .setPendingCalls(java.util.Arrays.stream(pendingTools)
                        .map(t -> new ToolCallRef("c-" + t, t, "{}", ""))
                        .toList())
                .setUsage(Usage.newBuilder().build())
                .setTimings(Timings.newBuilder().build())
                .setSubmittedAtMs(STARTED_AT_MS)
                .setEmittedAtMs(STARTED_AT_MS)
                .setToolCallsRequested(0)
                .build();
    }

    private static AgentResult result(String jobId, JobStatus status, long finishedAtMs) {
        return AgentResult.newBuilder()
                .setJobId(jobId)
                .setBatchId("b")
                .setIndex(0)
                .setStatus(status)
                .setError(
                        status == JobStatus.SUCCEEDED
                                ? null
                                : new io.batchagent.events.JobError(io.batchagent.events.ErrorReason.OTHER, "x"))
                .setTurns(1)
                .setUsage(Usage.newBuilder()
                        .setPromptTokens(100)
                        .setCachedPromptTokens(75)
                        .build())
                .setTimings(Timings.newBuilder().build())
                .setFinishedAtMs(finishedAtMs)
                .build();
    }

    @Test
    void shouldStallOnlyWhenNoJobProgressedForTheWholeTimeout() {
        assertThat(progress.stalledFor(TIMEOUT)).as("before submission").isFalse();
        submit("j1", "j2");

        elapse(Duration.ofSeconds(9));
        assertThat(progress.stalledFor(TIMEOUT)).isFalse();
        progress.turnStarted(turn("j1"));
        elapse(Duration.ofSeconds(9));
        assertThat(progress.stalledFor(TIMEOUT)).as("a turn started 9 s ago").isFalse();
        progress.turnStarted(turn("other-batch-job"));
        elapse(Duration.ofSeconds(1));

        assertThat(progress.stalledFor(TIMEOUT))
                .as("another batch's turn is no progress of this one")
                .isTrue();
    }

    @Test
    void shouldNeverStallOnceEveryJobHasItsResult() {
        submit("j1");
        progress.result(result("j1", JobStatus.SUCCEEDED, STARTED_AT_MS + 5));

        elapse(Duration.ofHours(1));

        assertThat(progress.stalledFor(TIMEOUT)).isFalse();
    }

    @Test
    void shouldSayWhatEachUnfinishedJobWaitsOnWhenItStalls() {
        submit("j1", "j2", "j3", "j4");
        progress.result(result("j1", JobStatus.FAILED, STARTED_AT_MS + 5));
        progress.turnStarted(turn("j2"));
        progress.waitingOnTools(turn("j3", "search", "lookup", "search"));
        elapse(TIMEOUT);

        List<String> report = progress.stallReport(TIMEOUT);

        assertThat(progress.stalledFor(TIMEOUT)).isTrue();
        assertThat(report.get(0))
                .isEqualTo("batch b stalled: no job progressed for 10s; 3 of 4 jobs unfinished (1 done, 1 failed)");
        assertThat(report.get(1))
                .isEqualTo("unfinished: 1 waiting on the engine, 1 waiting on tools (lookup, search), "
                        + "1 with no activity seen by this run");
        assertThat(report.get(2)).isEqualTo("unfinished jobs: j2, j3, j4");
    }

    @Test
    void shouldEstimateTheTimeLeftFromThisRunsResultsOnly() {
        submit("j1", "j2", "j3", "j4", "j5");
        progress.result(result("j1", JobStatus.SUCCEEDED, STARTED_AT_MS - 60_000)); // finished in an earlier run
        elapse(Duration.ofSeconds(10));
        progress.result(result("j2", JobStatus.SUCCEEDED, STARTED_AT_MS + 9_000));

        BatchProgress.Snapshot snapshot = progress.snapshot();

        assertThat(snapshot.done()).isEqualTo(2);
        assertThat(snapshot.eta()).contains(Duration.ofSeconds(30)); // 3 left at one per 10 s
        assertThat(snapshot.cachedShare()).isEqualTo(0.75);
        assertThat(snapshot.describe()).startsWith("2/5 done (0 failed), 0.0 turns/s, cached 75.0% of prompt tokens");
    }
}
