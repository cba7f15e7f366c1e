package io.batchagent.opencode;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.gateway.JobUsage;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * How one OpenCode session ended.
 *
 * @param jobId the job
 * @param batchId its batch
 * @param status SUCCEEDED when OpenCode exited normally with an answer; FAILED when it crashed, was killed,
 *     ran past its deadline, reported an error or gave no answer; CANCELLED when it was cancelled
 * @param errorReason why it failed (TIMEOUT, ENGINE_ERROR, CANCELLED, OTHER); null when it succeeded
 * @param errorMessage what happened, with the tail of OpenCode's standard error where that helps; null
 *     when it succeeded. Never contains the gateway's access token.
 * @param answer the text of the session's last step; empty when there was none
 * @param output the job's output document: {@code result} (the answer), {@code sessionId}, {@code steps},
 *     {@code toolCalls}, {@code openCodeTokens} (OpenCode's own count) and {@code transcript} (compact
 *     events, see {@link SessionEvents})
 * @param usage the session's model calls as the gateway accounted them; empty if it made none
 * @param exitCode the session process's exit code; empty when it was killed by the runtime
 * @param wallMs from the start of the session's process to its end
 */
public record SessionResult(
        String jobId,
        String batchId,
        JobStatus status,
        ErrorReason errorReason,
        String errorMessage,
        Optional<String> answer,
        ObjectNode output,
        Optional<JobUsage> usage,
        OptionalInt exitCode,
        long wallMs) {

    public boolean succeeded() {
        return status == JobStatus.SUCCEEDED;
    }

    /** The answer and error stay out of logs: only their sizes are shown. */
    @Override
    public String toString() {
        return "SessionResult[jobId=" + jobId + ", batchId=" + batchId + ", status=" + status + ", errorReason="
                + errorReason
                + ", answer=" + answer.map(a -> a.length() + " chars").orElse("none") + ", usage=" + usage
                + ", exitCode=" + exitCode + ", wallMs=" + wallMs + "]";
    }
}
