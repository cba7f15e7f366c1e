package io.batchagent.client;

import io.batchagent.events.JobStatus;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;

/**
 * Where a batch stands, read from its topics by {@link BatchClient#status(String)}: what an operator asks
 * of a batch that runs elsewhere.
 *
 * @param batchId the batch
 * @param expectedJobs jobs its spec announces (0 for a workflow stage, whose jobs come from events)
 * @param cancelled whether the batch was cancelled
 * @param submittedJobs distinct jobs of the batch on the jobs topic
 * @param finished jobs with a final result, by status (latest result per job)
 * @param modelTurns unfinished jobs whose latest event is a turn: a model call queued or in flight
 * @param waitingOnTools unfinished jobs whose latest event says they wait on tool calls
 * @param tools per-tool activity of the batch's jobs
 * @param lastProgressMs the newest record timestamp of the batch (job, turn, tool answer or result); 0 if none
 */
public record BatchStatus(
        String batchId,
        long expectedJobs,
        boolean cancelled,
        long submittedJobs,
        Map<JobStatus, Long> finished,
        long modelTurns,
        long waitingOnTools,
        Map<String, ToolActivity.Stats> tools,
        long lastProgressMs) {

    public BatchStatus {
        EnumMap<JobStatus, Long> counts = new EnumMap<>(JobStatus.class);
        for (JobStatus status : JobStatus.values()) {
            counts.put(status, finished.getOrDefault(status, 0L));
        }
        finished = Map.copyOf(counts);
        tools = Map.copyOf(tools);
    }

    /** Jobs with a final result. */
    public long finishedJobs() {
        return finished.values().stream().mapToLong(Long::longValue).sum();
    }

    /** Jobs without a final result yet: of those announced, or of those submitted when none were. */
    public long pendingJobs() {
        return Math.max(0, Math.max(expectedJobs, submittedJobs) - finishedJobs());
    }

    /** Whether every announced job has a final result. */
    public boolean complete() {
        return expectedJobs > 0 && finishedJobs() >= expectedJobs;
    }

    /** Time since the batch's newest record, at {@code nowMs}; null when it has none. */
    public Duration sinceLastProgress(long nowMs) {
        return lastProgressMs == 0 ? null : Duration.ofMillis(Math.max(0, nowMs - lastProgressMs));
    }

    /** A few human-readable lines, as {@code batchagent status} prints them. */
    public String describe(long nowMs) {
        StringBuilder text = new StringBuilder(String.format(
                "batch %s: %s%d jobs, %d finished (succeeded %d, failed %d, cancelled %d), %d pending%n"
                        + "in flight: %d waiting on or in a model call, %d waiting on tools",
                batchId,
                cancelled ? "CANCELLED, " : complete() ? "complete, " : "",
                Math.max(expectedJobs, submittedJobs),
                finishedJobs(),
                finished.get(JobStatus.SUCCEEDED),
                finished.get(JobStatus.FAILED),
                finished.get(JobStatus.CANCELLED),
                pendingJobs(),
                modelTurns,
                waitingOnTools));
        Duration since = sinceLastProgress(nowMs);
        text.append(String.format("%nlast progress: %s", since == null ? "none yet" : since.toSeconds() + " s ago"));
        tools.values()
                .forEach(t -> text.append(String.format(
                        "%ntool %s: requested %d, executed %d, coalesced %d, cache hits %d, errors %d, latency p50 %d ms p95 %d ms",
                        t.tool(),
                        t.requested(),
                        t.executed(),
                        t.coalesced(),
                        t.cacheHits(),
                        t.errors(),
                        t.latencyP50Ms(),
                        t.latencyP95Ms())));
        return text.toString();
    }
}
