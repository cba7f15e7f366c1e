package io.batchagent.topology;

import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.state.TurnAssembly;
import io.batchagent.schemas.OversizedRecordException;
import io.batchagent.schemas.Topics;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Keeps what the turn assembler writes within the record budget ({@code RecordLimits}): a job whose
 * next turn, or whose buffered turn and tool results, would be larger ends FAILED with
 * RECORD_TOO_LARGE, giving the size and the limit, instead of a record no producer may send. Sizes are
 * measured with the serdes that will write the records. Not thread-safe: one per processor.
 */
final class RecordBudget {

    private final Serializer<AgentTurn> turns;
    private final String turnsTopic;
    private final Serializer<TurnAssembly> assemblies;
    private final String assemblyChangelog;

    /** @param assemblyChangelog the changelog topic of the assembly store (the subject its serde writes under) */
    RecordBudget(Topics topics, String assemblyChangelog) {
        this.turns = topics.agentTurns().valueSerde().serializer();
        this.turnsTopic = topics.agentTurns().name();
        this.assemblies = topics.serde(TurnAssembly.class).serializer();
        this.assemblyChangelog = assemblyChangelog;
    }

    /** {@code outcome} itself when it is not a turn or the turn fits; otherwise the FAILED result that ends its job. */
    SpecificRecord fit(SpecificRecord outcome, long now) {
        if (!(outcome instanceof AgentTurn next)) {
            return outcome;
        }
        try {
            turns.serialize(turnsTopic, next);
            return outcome;
        } catch (OversizedRecordException e) {
            AgentResult failed = Outcomes.failed(
                    next,
                    ErrorReason.RECORD_TOO_LARGE,
                    "the conversation of turn "
                            + next.getTurn() + " is " + e.sizeBytes() + " bytes serialized, over the record limit of "
                            + e.limitBytes() + " bytes; its tool outputs or messages are too large to go on",
                    now);
            failed.setTurns(next.getTurn() - 1);
            return failed;
        }
    }

    /**
     * Null when the assembly entry fits its store; otherwise the FAILED result that ends the job of its
     * waiting turn (which must not be null).
     */
    AgentResult overflow(TurnAssembly assembly, long now) {
        try {
            assemblies.serialize(assemblyChangelog, assembly);
            return null;
        } catch (OversizedRecordException e) {
            AgentTurn waiting = assembly.getWaiting();
            AgentResult failed = Outcomes.failed(
                    waiting,
                    ErrorReason.RECORD_TOO_LARGE,
                    "turn " + waiting.getTurn()
                            + " and the tool results it waits for are " + e.sizeBytes()
                            + " bytes serialized, over the record limit of "
                            + e.limitBytes() + " bytes; its tool outputs are too large to go on",
                    now);
            return failed;
        }
    }
}
