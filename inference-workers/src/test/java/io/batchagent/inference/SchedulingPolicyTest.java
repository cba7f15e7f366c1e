package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/** The order each dispatch policy gives a mixed buffer of turns, and the engine priority it asks for. */
class SchedulingPolicyTest {

    private static final String TURNS = Fixtures.TOPICS.agentTurns().name();
    private static final String CONTINUATIONS =
            Fixtures.TOPICS.agentContinuations().name();

    /** Batch "short" allows 2 turns, batch "long" 6; both expect 100 output tokens a turn (max_tokens). */
    private final Map<String, BatchSpec> specs = Map.of(
            "short", spec("short", 2, 100),
            "long", spec("long", 6, 100));

    private final SchedulingPolicy.RemainingWork remaining = new InferenceWorker.BatchWork(this::lookup, handler());

    @Test
    void continuingFirstShouldRunLaterTurnsBeforeNewAgentsThenEarliestEmitted() {
        assertThat(order(SchedulingPolicy.CONTINUING_FIRST, buffer()))
                .containsExactly("undecodable", "short-t2", "long-t3", "long-t2", "new-short", "new-long");
    }

    @Test
    void newFirstShouldRunNewAgentsBeforeLaterTurnsThenEarliestEmitted() {
        assertThat(order(SchedulingPolicy.NEW_FIRST, buffer()))
                .containsExactly("undecodable", "new-short", "new-long", "short-t2", "long-t3", "long-t2");
    }

    @Test
    void leastRemainingWorkShouldRunTheAgentClosestToItsEndFirst() {
        // remaining turns x 100 tokens: short-t2 1, new-short 2, long-t3 4, long-t2 5, new-long 6
        assertThat(order(SchedulingPolicy.LEAST_REMAINING_WORK, buffer()))
                .containsExactly("undecodable", "short-t2", "new-short", "long-t3", "long-t2", "new-long");
    }

    @Test
    void leastRemainingWorkShouldWeighTurnsByTheBatchOutputLength() {
        // Same remaining turns (2 each), but batch "wordy" expects 10x the tokens a turn
        SchedulingPolicy.RemainingWork work = new InferenceWorker.BatchWork(
                id -> CompletableFuture.completedFuture(
                        id.equals("wordy") ? spec("wordy", 2, 1000) : spec("terse", 2, 100)),
                handler());
        List<ConsumerRecord<String, Decoded<AgentTurn>>> buffer = new ArrayList<>(
                List.of(record(TURNS, "wordy-new", "wordy", 1, 1), record(TURNS, "terse-new", "terse", 1, 2)));
        buffer.sort(SchedulingPolicy.LEAST_REMAINING_WORK.order(work));
        assertThat(buffer).extracting(ConsumerRecord::key).containsExactly("terse-new", "wordy-new");
    }

    @Test
    void continuingFirstShouldBeTheOrderTheWorkerUsedBefore() {
        assertThat(order(SchedulingPolicy.CONTINUING_FIRST, buffer()))
                .containsExactlyElementsOf(sorted(InferenceWorker.continuingFirst(), buffer()));
    }

    @Test
    void eachPolicyShouldAskTheEngineToRunFirstWhatItDispatchesFirst() {
        assertThat(SchedulingPolicy.CONTINUING_FIRST.enginePriority(2)).isEqualTo(SchedulingHints.CONTINUING_AGENT);
        assertThat(SchedulingPolicy.CONTINUING_FIRST.enginePriority(1)).isEqualTo(SchedulingHints.NEW_AGENT);
        assertThat(SchedulingPolicy.NEW_FIRST.enginePriority(1)).isEqualTo(SchedulingHints.CONTINUING_AGENT);
        assertThat(SchedulingPolicy.NEW_FIRST.enginePriority(2)).isEqualTo(SchedulingHints.NEW_AGENT);
        assertThat(SchedulingPolicy.LEAST_REMAINING_WORK.enginePriority(3)).isEqualTo(SchedulingHints.CONTINUING_AGENT);
        assertThat(SchedulingHints.forTurn(SchedulingPolicy.NEW_FIRST, 1, 4, java.util.OptionalInt.empty())
                        .priority())
                .isEqualTo(SchedulingHints.CONTINUING_AGENT);
    }

    @Test
    void onlyContinuingFirstShouldHoldNewAgentsByKvSinceElsewhereTheyWouldBlockTheContinuations() {
        assertThat(SchedulingPolicy.NEW_FIRST.holdsNewAgentsByKv()).isFalse();
        assertThat(SchedulingPolicy.CONTINUING_FIRST.holdsNewAgentsByKv()).isTrue();
        assertThat(SchedulingPolicy.LEAST_REMAINING_WORK.holdsNewAgentsByKv()).isFalse();
    }

    @Test
    void eachPolicyShouldRankItsTopics() {
        assertThat(SchedulingPolicy.CONTINUING_FIRST.topicOrder(Fixtures.TOPICS))
                .containsExactly(CONTINUATIONS, TURNS);
        assertThat(SchedulingPolicy.NEW_FIRST.topicOrder(Fixtures.TOPICS)).containsExactly(TURNS, CONTINUATIONS);
        assertThat(SchedulingPolicy.LEAST_REMAINING_WORK.topicOrder(Fixtures.TOPICS))
                .isEmpty();
    }

    @Test
    void shouldParseSettingNamesAndRejectOthers() {
        assertThat(SchedulingPolicy.parse("new-first")).isEqualTo(SchedulingPolicy.NEW_FIRST);
        assertThat(SchedulingPolicy.parse("LEAST_REMAINING_WORK")).isEqualTo(SchedulingPolicy.LEAST_REMAINING_WORK);
        assertThat(FlowControl.defaults().scheduling()).isEqualTo(SchedulingPolicy.DEFAULT);
        assertThatThrownBy(() -> SchedulingPolicy.parse("fifo"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("continuing-first, new-first, least-remaining-work");
    }

    private List<ConsumerRecord<String, Decoded<AgentTurn>>> buffer() {
        List<ConsumerRecord<String, Decoded<AgentTurn>>> records = new ArrayList<>();
        records.add(record(TURNS, "new-short", "short", 1, 10));
        records.add(record(CONTINUATIONS, "long-t2", "long", 2, 40));
        records.add(record(TURNS, "new-long", "long", 1, 20));
        records.add(record(CONTINUATIONS, "long-t3", "long", 3, 30));
        records.add(new ConsumerRecord<>(
                TURNS, 0, 9, "undecodable", new Decoded<>(null, new byte[0], new RuntimeException("bad"))));
        records.add(record(CONTINUATIONS, "short-t2", "short", 2, 5));
        return records;
    }

    private List<String> order(SchedulingPolicy policy, List<ConsumerRecord<String, Decoded<AgentTurn>>> records) {
        return sorted(policy.order(remaining), records);
    }

    private static List<String> sorted(
            java.util.Comparator<ConsumerRecord<String, Decoded<AgentTurn>>> order,
            List<ConsumerRecord<String, Decoded<AgentTurn>>> records) {
        List<ConsumerRecord<String, Decoded<AgentTurn>>> copy = new ArrayList<>(records);
        copy.sort(order);
        return copy.stream().map(ConsumerRecord::key).toList();
    }

    private CompletableFuture<BatchSpec> lookup(String batchId) {
        return CompletableFuture.completedFuture(specs.get(batchId));
    }

    private static ConsumerRecord<String, Decoded<AgentTurn>> record(
            String topic, String jobId, String batchId, int turn, long emittedAtMs) {
        AgentTurn value = Fixtures.turn(jobId, batchId, turn, List.of(Fixtures.user("x")), emittedAtMs);
        return new ConsumerRecord<>(topic, 0, emittedAtMs, jobId, new Decoded<>(value, null, null));
    }

    private static BatchSpec spec(String batchId, int maxTurns, int maxTokens) {
        return BatchSpec.newBuilder(Fixtures.spec(batchId))
                .setMaxTurns(maxTurns)
                .setMaxTokens(maxTokens)
                .build();
    }

    private static TurnHandler handler() {
        return new TurnHandler(
                Fixtures.TOPICS,
                id -> CompletableFuture.failedFuture(new IllegalStateException("unused")),
                new ScriptedEngineClient(),
                new org.apache.kafka.clients.producer.MockProducer<>(
                        true,
                        null,
                        new org.apache.kafka.common.serialization.StringSerializer(),
                        new org.apache.kafka.common.serialization.ByteArraySerializer()),
                Runnable::run,
                System::currentTimeMillis,
                new TurnHandler.Counters());
    }
}
