package io.batchagent.inference;

import java.util.OptionalInt;

/**
 * What BatchAgent knows about one model call that an engine may use to schedule it. Each engine dialect
 * maps these to the fields it accepts, and sends none that its capability probe found rejected.
 *
 * @param priority the one semantic priority of BatchAgent: higher runs sooner. Under the default
 *     {@link SchedulingPolicy}, {@link #NEW_AGENT} for an agent's first turn, {@link #CONTINUING_AGENT} for a later
 *     one (it finishes an agent sooner and uses KV that is still cached); under {@code new-first} the other way
 *     round ({@link SchedulingPolicy#enginePriority(int)}). Dialects map it: SGLang and Dynamo send it as is (higher first), vLLM sends
 *     {@code CONTINUING_AGENT - priority} (lower first), never negative.
 * @param moreTurnsPossible whether the agent may still take another turn after this call (Dynamo's
 *     {@code speculative_prefill})
 * @param expectedOutputTokens the output length expected of this call, from the batch's earlier turns
 *     (Dynamo's {@code osl}); empty before anything was measured
 */
public record SchedulingHints(int priority, boolean moreTurnsPossible, OptionalInt expectedOutputTokens) {

    public static final int NEW_AGENT = 0;
    public static final int CONTINUING_AGENT = 1;

    /** No hint at all: new-agent priority, no further turn, no expected length. */
    public static final SchedulingHints NONE = new SchedulingHints(NEW_AGENT, false, OptionalInt.empty());

    public SchedulingHints {
        if (priority != NEW_AGENT && priority != CONTINUING_AGENT) {
            throw new IllegalArgumentException(
                    "priority must be NEW_AGENT (0) or CONTINUING_AGENT (1), got " + priority);
        }
        expectedOutputTokens = expectedOutputTokens == null ? OptionalInt.empty() : expectedOutputTokens;
    }

    /**
     * The hints of an agent's {@code turn} (1 for its first model call) in a batch allowing {@code maxTurns}, under
     * {@link SchedulingPolicy#DEFAULT}.
     */
    public static SchedulingHints forTurn(int turn, int maxTurns, OptionalInt expectedOutputTokens) {
        return forTurn(SchedulingPolicy.DEFAULT, turn, maxTurns, expectedOutputTokens);
    }

    /** As above, the priority as {@code policy} dispatches ({@link SchedulingPolicy#enginePriority(int)}). */
    public static SchedulingHints forTurn(
            SchedulingPolicy policy, int turn, int maxTurns, OptionalInt expectedOutputTokens) {
        return new SchedulingHints(policy.enginePriority(turn), turn < maxTurns, expectedOutputTokens);
    }
}
