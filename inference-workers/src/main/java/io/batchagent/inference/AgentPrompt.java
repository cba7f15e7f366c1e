package io.batchagent.inference;

import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * One model call described by what it is made of, for a client to render in its engine's format: the
 * batch's shared part (system prompt, tools, output schema, sampling settings), the agent's own messages,
 * and scheduling hints. Every dialect renders the shared part first and identically for every agent of a
 * batch, and puts per-agent fields after the messages (DESIGN invariant 3).
 *
 * <p>A warm-up prompt ({@link #warmUp}) has no agent message, is not streamed and asks for one token; it
 * is rendered through the same endpoint and chat template as the agents' calls.
 *
 * <p>Immutable; the message list is not copied, callers must not change it after handing it over.
 */
public final class AgentPrompt {

    private final PreparedBatch batch;
    private final List<ChatMessage> messages;
    private final SchedulingHints hints;
    private final boolean warmUp;

    private AgentPrompt(PreparedBatch batch, List<ChatMessage> messages, SchedulingHints hints, boolean warmUp) {
        this.batch = Objects.requireNonNull(batch, "batch");
        this.messages = Objects.requireNonNull(messages, "messages");
        this.hints = Objects.requireNonNull(hints, "hints");
        this.warmUp = warmUp;
        if (batch.prefix() == null) {
            throw new IllegalArgumentException(
                    "batch '" + batch.spec().getBatchId() + "' is unusable: " + batch.problem());
        }
    }

    /** An agent's call: streamed, the batch's max_tokens. */
    static AgentPrompt forAgent(PreparedBatch batch, List<ChatMessage> messages, SchedulingHints hints) {
        return new AgentPrompt(batch, messages, hints, false);
    }

    /** The warm-up of a batch's shared prefix: no agent message, not streamed, one output token. */
    static AgentPrompt warmUp(PreparedBatch batch) {
        return new AgentPrompt(batch, List.of(), SchedulingHints.NONE, true);
    }

    /** For callers outside the package (benchmarks, tools): an agent's call on a batch spec. */
    public static AgentPrompt of(BatchSpec spec, List<ChatMessage> messages, SchedulingHints hints) {
        return forAgent(PreparedBatch.of(spec), messages, hints);
    }

    PreparedBatch batch() {
        return batch;
    }

    public BatchSpec spec() {
        return batch.spec();
    }

    public String batchId() {
        return batch.spec().getBatchId();
    }

    public String model() {
        return batch.spec().getModel();
    }

    /** The agent's messages; empty for a warm-up. */
    public List<ChatMessage> messages() {
        return messages;
    }

    public SchedulingHints hints() {
        return hints;
    }

    public boolean isWarmUp() {
        return warmUp;
    }

    /** Whether the call streams its answer (every agent call; never a warm-up). */
    public boolean stream() {
        return !warmUp;
    }

    /** The output token limit: 1 for a warm-up, else the batch's max_tokens. */
    public int maxTokens() {
        return warmUp ? 1 : batch.spec().getMaxTokens();
    }

    /** An expected output length for hints, when known. */
    OptionalInt expectedOutputTokens() {
        return hints.expectedOutputTokens();
    }

    /** Prompt text stays out of logs: only sizes are shown. */
    @Override
    public String toString() {
        return "AgentPrompt[batchId=" + batchId() + ", messages=" + messages.size() + ", hints=" + hints + ", warmUp="
                + warmUp + "]";
    }
}
