package io.batchagent.sdk;

import io.batchagent.events.AgentResult;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.events.Timings;
import io.batchagent.events.Usage;

/**
 * One job's final result with its output decoded.
 *
 * @param index the input's position
 * @param jobId the job id
 * @param status SUCCEEDED, FAILED or CANCELLED
 * @param output the decoded answer; null unless SUCCEEDED
 * @param errorReason why it failed, or null
 * @param errorMessage a specific message, or null
 * @param rawOutput the model's last answer when it could not be used, or null
 * @param turns model calls made
 * @param usage prompt, cached prompt and completion tokens
 * @param timings queued, first token, model, tool wait and total milliseconds
 */
public record AgentOutcome<T>(
        long index,
        String jobId,
        JobStatus status,
        T output,
        ErrorReason errorReason,
        String errorMessage,
        String rawOutput,
        int turns,
        Usage usage,
        Timings timings) {

    public boolean succeeded() {
        return status == JobStatus.SUCCEEDED;
    }

    static <T> AgentOutcome<T> of(AgentResult result, OutputSchema<T> schema) {
        T output = null;
        ErrorReason reason =
                result.getError() == null ? null : result.getError().getReason();
        String message = result.getError() == null ? null : result.getError().getMessage();
        JobStatus status = result.getStatus();
        if (status == JobStatus.SUCCEEDED && result.getOutputJson() != null) {
            try {
                output = schema.decode(result.getOutputJson());
            } catch (IllegalArgumentException e) {
                status = JobStatus.FAILED;
                reason = ErrorReason.INVALID_OUTPUT;
                message = e.getMessage();
            }
        }
        return new AgentOutcome<>(
                result.getIndex(),
                result.getJobId(),
                status,
                output,
                reason,
                message,
                result.getRawOutput() != null
                        ? result.getRawOutput()
                        : (output == null ? result.getOutputJson() : null),
                result.getTurns(),
                result.getUsage(),
                result.getTimings());
    }
}
