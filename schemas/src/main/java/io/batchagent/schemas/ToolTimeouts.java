package io.batchagent.schemas;

import io.batchagent.events.ToolSpec;
import java.time.Duration;

/**
 * When a tool call's answer is due: the one rule that the coalescer (which dispatches a call and
 * gives up waiting for it) and the tool workers (which run it) share.
 *
 * <p>A call dispatched at {@code D} for a tool with timeout {@code T} is due by
 * {@code D + Q + T}, its deadline, where {@code Q} is the coalescer's queue allowance: how long a
 * call may wait on the tool-calls topic before a worker picks it up. A backlog is normal in a batch
 * (100,000 agents can ask for tools faster than the workers run them), so the timeout alone, which
 * bounds one execution, cannot also bound the queue. The deadline travels with the call
 * ({@code ToolCall.deadlineMs}):
 * <ul>
 *   <li>a worker that picks the call up at or after its deadline answers TIMEOUT ("expired in queue")
 *       without running it, so expired work is skipped, not done for nobody;
 *   <li>a worker that picks it up at {@code P} runs it until {@code min(P + T, D + Q + T)}: never
 *       longer than its timeout, and never past the deadline;
 *   <li>the coalescer waits for an answer until the deadline plus its grace (transport and publish
 *       slack) and only then answers TIMEOUT itself, which now means no worker answered at all.
 * </ul>
 *
 * <p>Thread-safe; stateless.
 */
public final class ToolTimeouts {

    /** The timeout of a tool declared without a positive {@code timeoutMs}. */
    public static final long DEFAULT_TIMEOUT_MS = 30_000;
    /**
     * How long a call may wait to be picked up unless the coalescer is built with another allowance:
     * long enough for a large batch's backlog of tool calls, short enough that agents hear of a
     * tool fleet that is down.
     */
    public static final Duration DEFAULT_QUEUE_ALLOWANCE = Duration.ofMinutes(5);

    private ToolTimeouts() {}

    /** The tool's timeout in ms: its declared {@code timeoutMs}, or {@link #DEFAULT_TIMEOUT_MS} if not positive. */
    public static long timeoutMs(ToolSpec tool) {
        return tool.getTimeoutMs() > 0 ? tool.getTimeoutMs() : DEFAULT_TIMEOUT_MS;
    }

    /** The deadline of a call of {@code tool} dispatched at {@code dispatchedAtMs}: dispatch + allowance + timeout. */
    public static long deadlineMs(long dispatchedAtMs, ToolSpec tool, Duration queueAllowance) {
        return dispatchedAtMs + Math.max(0, queueAllowance.toMillis()) + timeoutMs(tool);
    }
}
