package io.batchagent.tools;

import java.time.Duration;
import java.time.Instant;
import java.util.Objects;

/**
 * What a tool may know about the call it runs.
 *
 * @param callHash the call's identity (SHA-256 of tool name and canonical arguments); the same for
 *     every agent that made this call, so it suits as a key for caches and idempotency
 * @param batchId the batch whose agent first asked for the call (identical calls from other
 *     batches may share the result)
 * @param deadline when the worker gives up on the call and interrupts it
 */
public record ToolContext(String callHash, String batchId, Instant deadline) {

    public ToolContext {
        Objects.requireNonNull(callHash, "callHash");
        Objects.requireNonNull(batchId, "batchId");
        Objects.requireNonNull(deadline, "deadline");
    }

    /** Time left until the deadline, never negative. */
    public Duration remaining() {
        Duration left = Duration.between(Instant.now(), deadline);
        return left.isNegative() ? Duration.ZERO : left;
    }
}
