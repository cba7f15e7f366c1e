package io.batchagent.opencode;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * One OpenCode session to run.
 *
 * @param jobId the job; its model calls are accounted to it at the gateway
 * @param batchId the job's batch: its sessions' first calls are compared for prefix sharing, and its
 *     prefix is warmed once
 * @param message the task given to OpenCode (its first user message), sent on standard input
 * @param sourceDir a directory whose files are copied into the session's workspace before it starts
 *     (symbolic links are copied as links); empty for an empty workspace
 * @param deadline how long the session may run; empty for {@link OpenCodeSettings#sessionTimeout()}
 */
public record OpenCodeJob(
        String jobId, String batchId, String message, Optional<Path> sourceDir, Optional<Duration> deadline) {

    public OpenCodeJob {
        Objects.requireNonNull(jobId, "jobId");
        Objects.requireNonNull(batchId, "batchId");
        Objects.requireNonNull(message, "message");
        sourceDir = sourceDir == null ? Optional.empty() : sourceDir;
        deadline = deadline == null ? Optional.empty() : deadline;
        if (jobId.isBlank() || batchId.isBlank()) {
            throw new IllegalArgumentException("jobId and batchId must not be blank");
        }
        deadline.ifPresent(d -> {
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("deadline must be positive, got " + d);
            }
        });
    }

    /** A job with an empty workspace and the runtime's default deadline. */
    public static OpenCodeJob of(String jobId, String batchId, String message) {
        return new OpenCodeJob(jobId, batchId, message, Optional.empty(), Optional.empty());
    }

    public OpenCodeJob withSourceDir(Path value) {
        return new OpenCodeJob(jobId, batchId, message, Optional.of(value), deadline);
    }

    public OpenCodeJob withDeadline(Duration value) {
        return new OpenCodeJob(jobId, batchId, message, sourceDir, Optional.of(value));
    }

    /** The task text stays out of logs: only its size is shown. */
    @Override
    public String toString() {
        return "OpenCodeJob[jobId=" + jobId + ", batchId=" + batchId + ", message=" + message.length()
                + " chars, sourceDir=" + sourceDir + ", deadline=" + deadline + "]";
    }
}
