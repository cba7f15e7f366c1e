package io.batchagent.topology;

import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobError;
import io.batchagent.events.JobStatus;
import io.batchagent.events.Timings;
import io.batchagent.events.Usage;

/** Builds the records that end a job early, so that every stage words them the same way. */
final class Outcomes {

    private Outcomes() {}

    static AgentResult failed(
            String jobId,
            String batchId,
            long index,
            ErrorReason reason,
            String message,
            long submittedAtMs,
            long nowMs) {
        return AgentResult.newBuilder()
                .setJobId(jobId)
                .setBatchId(batchId)
                .setIndex(index)
                .setStatus(JobStatus.FAILED)
                .setError(new JobError(reason, message))
                .setTurns(0)
                .setUsage(emptyUsage())
                .setTimings(Timings.newBuilder()
                        .setTotalMs(Math.max(0, nowMs - submittedAtMs))
                        .build())
                .setFinishedAtMs(nowMs)
                .build();
    }

    /** The failure of {@code job} before its first turn, for the job's attempt. */
    static AgentResult failed(AgentJob job, ErrorReason reason, String message, long nowMs) {
        AgentResult failed = failed(
                job.getJobId(), job.getBatchId(), job.getIndex(), reason, message, job.getSubmittedAtMs(), nowMs);
        failed.setAttempt(job.getAttempt());
        return failed;
    }

    static AgentResult failed(AgentTurn turn, ErrorReason reason, String message, long nowMs) {
        Timings timings = Timings.newBuilder(turn.getTimings())
                .setTotalMs(Math.max(0, nowMs - turn.getSubmittedAtMs()))
                .build();
        return AgentResult.newBuilder()
                .setJobId(turn.getJobId())
                .setBatchId(turn.getBatchId())
                .setIndex(turn.getIndex())
                .setStatus(JobStatus.FAILED)
                .setError(new JobError(reason, message))
                .setTurns(turn.getTurn())
                .setUsage(turn.getUsage())
                .setTimings(timings)
                .setToolCallsRequested(turn.getToolCallsRequested())
                .setFinishedAtMs(nowMs)
                .setAttempt(turn.getAttempt())
                .setCompactions(turn.getCompactions())
                .build();
    }

    /** Marks an early outcome CANCELLED (the error says why). */
    static AgentResult cancelled(AgentResult failed) {
        failed.setStatus(JobStatus.CANCELLED);
        return failed;
    }

    static Usage emptyUsage() {
        return Usage.newBuilder().build();
    }
}
