package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.schemas.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The worker's consumer loop over a MockConsumer, with a scripted engine and a MockProducer. */
class InferenceWorkerTest {

    private static final Topics TOPICS = Fixtures.TOPICS;
    private static final Duration PATIENCE = Duration.ofSeconds(10);

    private final TopicPartition partition =
            new TopicPartition(TOPICS.agentTurns().name(), 0);
    private final TopicPartition continuations =
            new TopicPartition(TOPICS.agentContinuations().name(), 0);
    private final Map<TopicPartition, Long> commits = new ConcurrentHashMap<>();
    /** Remembers every commit, so that tests can read them after the worker closed its consumer. */
    private final MockConsumer<String, Decoded<AgentTurn>> consumer = new MockConsumer<>("earliest") {
        @Override
        public synchronized void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
            super.commitSync(offsets);
            offsets.forEach((p, offset) -> commits.put(p, offset.offset()));
        }
    };

    private final MockProducer<String, byte[]> producer =
            new MockProducer<>(true, null, new StringSerializer(), new ByteArraySerializer());
    private final BatchSpec spec = Fixtures.spec("batch-w");
    private final ScriptedEngineClient engine = new ScriptedEngineClient();
    private final MockConsumer<String, byte[]> specConsumer = new MockConsumer<>("earliest");
    private final Deserializer<Decoded<AgentTurn>> lenient =
            Decoded.lenient(TOPICS.agentTurns().valueSerde().deserializer());
    private InferenceWorker worker;

    @AfterEach
    void close() {
        if (worker != null) {
            worker.close();
        }
    }

    @Test
    void shouldDispatchContinuingAgentsBeforeNewOnesWhenBothAreBuffered() {
        // Given one slot, and three turns fetched together: two new agents, then a continuing one
        startWorker(
                1,
                List.of(
                        encoded(turn("new-a", 1, 100), 0),
                        encoded(turn("new-b", 1, 50), 1),
                        encoded(turn("continuing-c", 2, 200), 2)));

        // Then the continuing agent goes first, then the new ones, earliest emitted first
        await().atMost(PATIENCE)
                .untilAsserted(
                        () -> assertThat(engine.jobsInCallOrder()).containsExactly("continuing-c", "new-b", "new-a"));
        await().atMost(PATIENCE)
                .untilAsserted(() -> assertThat(consumer.committed(Set.of(partition))
                                .get(partition)
                                .offset())
                        .isEqualTo(3));
        assertThat(worker.peakInFlight()).isEqualTo(1);
        assertThat(worker.turnsHandled()).isEqualTo(3);
        assertThat(worker.succeeded()).isEqualTo(3);
    }

    @Test
    void shouldDispatchNewAgentsFirstAndSayWhenTheSettingIsNewFirst() {
        // Given one slot, a worker configured new-first, and three turns fetched together
        startWorker(
                InferenceWorkerConfig.defaults()
                        .withMaxInflight(1)
                        .withFlowControl(FlowControl.defaults().withScheduling(SchedulingPolicy.NEW_FIRST)),
                List.of(
                        encoded(turn("new-a", 1, 100), 0),
                        encoded(turn("continuing-c", 2, 20), 1),
                        encoded(turn("new-b", 1, 50), 2)));

        // Then the new agents go first, earliest emitted first, and their calls carry the higher engine priority
        await().atMost(PATIENCE)
                .untilAsserted(
                        () -> assertThat(engine.jobsInCallOrder()).containsExactly("new-b", "new-a", "continuing-c"));
        assertThat(worker.scheduling()).isEqualTo(SchedulingPolicy.NEW_FIRST);
        assertThat(engine.requests())
                .extracting(request -> request.prompt().hints().priority())
                .containsExactly(
                        SchedulingHints.CONTINUING_AGENT, SchedulingHints.CONTINUING_AGENT, SchedulingHints.NEW_AGENT);
    }

    @Test
    void shouldKeepAtMostMaxInflightModelCallsInFlight() {
        // Given an engine that answers only when the test says so
        List<CompletableFuture<ChatResponse>> pending = new CopyOnWriteArrayList<>();
        engine.answerAllWith(request -> {
            CompletableFuture<ChatResponse> answer = new CompletableFuture<>();
            pending.add(answer);
            return answer;
        });
        startWorker(
                2,
                List.of(
                        encoded(turn("j1", 1, 1), 0),
                        encoded(turn("j2", 1, 2), 1),
                        encoded(turn("j3", 1, 3), 2),
                        encoded(turn("j4", 1, 4), 3),
                        encoded(turn("j5", 1, 5), 4)));

        // Then two calls start and no third one while they are in flight
        await().atMost(PATIENCE).until(() -> pending.size() == 2);
        await().during(Duration.ofMillis(300))
                .atMost(PATIENCE)
                .until(() -> pending.size() == 2 && worker.inFlight() == 2);

        // When the engine answers, one call at a time, until every turn is handled
        for (int answered = 0; answered < 5; answered++) {
            int next = answered;
            await().atMost(PATIENCE).until(() -> pending.size() > next);
            pending.get(next).complete(ScriptedEngineClient.answer("{\"city\":\"Lyon\",\"population\":1}"));
        }

        // Then every turn got its result and the bound was never passed
        await().atMost(PATIENCE).until(() -> worker.turnsHandled() == 5);
        assertThat(worker.peakInFlight()).isEqualTo(2);
        assertThat(results()).hasSize(5).allMatch(r -> r.getStatus() == JobStatus.SUCCEEDED);
    }

    @Test
    void shouldDeadLetterAnUndecodableRecordAndGoOn() {
        // Given a record that is not Avro, followed by a valid turn
        startWorker(
                4,
                List.of(
                        new ConsumerRecord<>(
                                partition.topic(),
                                0,
                                0L,
                                "job-garbled",
                                lenient.deserialize(
                                        partition.topic(),
                                        "{\"jobId\":\"job-garbled\"}".getBytes(StandardCharsets.UTF_8))),
                        encoded(turn("job-fine", 1, 10), 1)));

        // Then the first goes to dead-letters with a FAILED result, and the second is answered
        await().atMost(PATIENCE).until(() -> results().size() == 2);
        assertThat(results())
                .filteredOn(r -> r.getJobId().equals("job-garbled"))
                .singleElement()
                .satisfies(r -> assertThat(r.getError().getReason()).isEqualTo(ErrorReason.UNDECODABLE_RECORD));
        assertThat(results())
                .filteredOn(r -> r.getJobId().equals("job-fine"))
                .singleElement()
                .satisfies(r -> assertThat(r.getStatus()).isEqualTo(JobStatus.SUCCEEDED));
        assertThat(producer.history())
                .filteredOn(r -> r.topic().equals(TOPICS.deadLetters().name()))
                .hasSize(1);
        assertThat(worker.deadLetters()).isEqualTo(1);
        await().atMost(PATIENCE)
                .untilAsserted(() -> assertThat(consumer.committed(Set.of(partition))
                                .get(partition)
                                .offset())
                        .isEqualTo(2));
    }

    @Test
    void shouldWarmEachBatchOnceBeforeItsTurnsWhenWarmUpIsOn() {
        // Given warm-up on, and two turns of one batch
        startWorker(
                InferenceWorkerConfig.defaults().withMaxInflight(4).withWarmUp(true),
                List.of(encoded(turn("j1", 1, 1), 0), encoded(turn("j2", 1, 2), 1)));

        // Then one warm-up call (no agent message, not streamed) comes before both agents' calls
        await().atMost(PATIENCE).until(() -> worker.turnsHandled() == 2);
        List<ChatRequest> requests = engine.requests();
        assertThat(requests).hasSize(3);
        assertThat(requests.get(0).jobId()).isEqualTo("warm-up:batch-w");
        assertThat(requests.get(0).prompt().isWarmUp()).isTrue();
        assertThat(requests.get(0).prompt().messages()).isEmpty();
        assertThat(requests.subList(1, 3)).extracting(ChatRequest::jobId).containsExactlyInAnyOrder("j1", "j2");
        assertThat(results())
                .hasSize(2)
                .allSatisfy(result -> assertThat(result.getWarmUp().getOutcome())
                        .isEqualTo(io.batchagent.events.WarmUpOutcome.VERIFIED));
        assertThat(worker.warmUp("batch-w"))
                .hasValueSatisfying(report -> assertThat(report.calls()).isEqualTo(1));
    }

    @Test
    void shouldDispatchContinuationsBeforeFirstTurnsAlreadyBuffered() {
        // Given one slot, a first turn in flight and two more buffered
        List<CompletableFuture<ChatResponse>> pending = new CopyOnWriteArrayList<>();
        engine.answerAllWith(request -> {
            CompletableFuture<ChatResponse> answer = new CompletableFuture<>();
            pending.add(answer);
            return answer;
        });
        startWorker(
                1,
                List.of(
                        encoded(turn("new-1", 1, 1), 0),
                        encoded(turn("new-2", 1, 2), 1),
                        encoded(turn("new-3", 1, 3), 2)));
        await().atMost(PATIENCE).until(() -> pending.size() == 1);

        // When a continuing agent's turn arrives on agent-continuations
        consumer.schedulePollTask(() -> consumer.addRecord(encoded(continuations, turn("continuing", 2, 10), 0)));
        await().atMost(PATIENCE).until(() -> consumer.paused().contains(partition));

        // Then it takes the next free slot, ahead of the first turns fetched before it
        for (int answered = 0; answered < 4; answered++) {
            int next = answered;
            await().atMost(PATIENCE).until(() -> pending.size() > next);
            pending.get(next).complete(ScriptedEngineClient.answer("{\"city\":\"Lyon\",\"population\":1}"));
        }
        await().atMost(PATIENCE).until(() -> worker.turnsHandled() == 4);
        assertThat(engine.jobsInCallOrder()).containsExactly("new-1", "continuing", "new-2", "new-3");
        await().atMost(PATIENCE)
                .until(() ->
                        commits.getOrDefault(continuations, -1L) == 1L && commits.getOrDefault(partition, -1L) == 3L);
    }

    @Test
    void shouldStopWithoutCommittingATurnWhenNotEvenItsFailedResultCanBePublished() {
        // Given a producer that answers only when the test says so
        MockProducer<String, byte[]> manual =
                new MockProducer<>(false, null, new StringSerializer(), new ByteArraySerializer());
        startWorker(
                manual,
                batchId -> CompletableFuture.completedFuture(spec),
                Duration.ofSeconds(10),
                List.of(encoded(turn("job-lost", 1, 1), 0)));

        // When the turn's result cannot be published, nor the FAILED result standing for it
        await().atMost(PATIENCE).until(() -> manual.history().size() == 1);
        manual.errorNext(new KafkaException("the broker refused the record"));
        await().atMost(PATIENCE).until(() -> manual.history().size() == 2);
        manual.errorNext(new KafkaException("the broker refused the FAILED result too"));

        // Then the worker stops, saying why, with nothing committed at or past the turn, and the model called once
        await().atMost(PATIENCE).until(() -> !worker.isRunning());
        assertThat(worker.failure())
                .get()
                .extracting(Throwable::getMessage)
                .asString()
                .contains("job job-lost, turn 1")
                .contains("the broker refused the FAILED result too");
        assertThat(worker.handlerFailures()).isEqualTo(1);
        assertThat(commits.getOrDefault(partition, 0L)).isZero();
        assertThat(engine.requests()).hasSize(1);
    }

    @Test
    void shouldPublishNothingWhenClosedWhileATurnWaitsForItsSpec() {
        // Given a turn in flight, waiting for a batch spec the cache has not seen
        BatchSpecCache cache = specCache();
        startWorker(producer, cache, Duration.ofMillis(100), List.of(encoded(turn("job-waiting", 1, 1), 0)));
        await().atMost(PATIENCE).until(() -> worker.inFlight() == 1);

        // When the worker is closed
        worker.close();

        // Then it published nothing (no UNKNOWN_BATCH), committed nothing past the turn, and closed cleanly
        assertThat(producer.history()).isEmpty();
        assertThat(commits.getOrDefault(partition, 0L)).isZero();
        assertThat(worker.failure()).isEmpty();
        assertThat(engine.requests()).isEmpty();
    }

    @Test
    void shouldStopInsteadOfFailingNewBatchesWhenTheSpecReaderDies() {
        // Given a turn in flight, waiting for a batch spec the cache has not seen
        BatchSpecCache cache = specCache();
        startWorker(producer, cache, Duration.ofSeconds(10), List.of(encoded(turn("job-waiting", 1, 1), 0)));
        await().atMost(PATIENCE).until(() -> worker.inFlight() == 1);

        // When the cache's reader fails for good
        specConsumer.setPollException(new KafkaException("the cluster refused the spec reader"));

        // Then the worker stops loudly, fails no job for an unknown batch, and commits nothing past the turn
        await().atMost(PATIENCE).until(() -> !worker.isRunning());
        assertThat(worker.failure())
                .get()
                .extracting(Throwable::getMessage)
                .asString()
                .contains("the cluster refused the spec reader");
        assertThat(producer.history()).isEmpty();
        assertThat(commits.getOrDefault(partition, 0L)).isZero();
        assertThat(cache.get("batch-later"))
                .failsWithin(PATIENCE)
                .withThrowableThat()
                .havingCause()
                .isInstanceOf(BatchSpecLookup.UnavailableException.class);
    }

    /** A real spec cache over a MockConsumer of the batch-specs topic that holds no spec. */
    private BatchSpecCache specCache() {
        String topic = TOPICS.batchSpecs().name();
        Node node = new Node(0, "localhost", 9092);
        specConsumer.updatePartitions(
                topic, List.of(new PartitionInfo(topic, 0, node, new Node[] {node}, new Node[] {node})));
        specConsumer.updateBeginningOffsets(Map.of(new TopicPartition(topic, 0), 0L));
        return new BatchSpecCache(specConsumer, TOPICS, Duration.ofMinutes(5));
    }

    private void startWorker(int maxInflight, List<ConsumerRecord<String, Decoded<AgentTurn>>> records) {
        startWorker(InferenceWorkerConfig.defaults().withMaxInflight(maxInflight), records);
    }

    private void startWorker(InferenceWorkerConfig config, List<ConsumerRecord<String, Decoded<AgentTurn>>> records) {
        startWorker(
                config,
                producer,
                batchId -> CompletableFuture.completedFuture(spec),
                InferenceWorker.SHUTDOWN_DRAIN,
                records);
    }

    private void startWorker(
            MockProducer<String, byte[]> producer,
            BatchSpecLookup specs,
            Duration drain,
            List<ConsumerRecord<String, Decoded<AgentTurn>>> records) {
        startWorker(InferenceWorkerConfig.defaults().withMaxInflight(4), producer, specs, drain, records);
    }

    private void startWorker(
            InferenceWorkerConfig config,
            MockProducer<String, byte[]> producer,
            BatchSpecLookup specs,
            Duration drain,
            List<ConsumerRecord<String, Decoded<AgentTurn>>> records) {
        consumer.schedulePollTask(() -> {
            consumer.rebalance(List.of(continuations, partition));
            consumer.updateBeginningOffsets(Map.of(partition, 0L, continuations, 0L));
            records.forEach(consumer::addRecord);
        });
        worker = new InferenceWorker(
                consumer, producer, specs, TOPICS, config, engine, System::currentTimeMillis, drain);
        worker.start();
    }

    private ConsumerRecord<String, Decoded<AgentTurn>> encoded(AgentTurn turn, long offset) {
        return encoded(partition, turn, offset);
    }

    private ConsumerRecord<String, Decoded<AgentTurn>> encoded(TopicPartition to, AgentTurn turn, long offset) {
        byte[] bytes = TOPICS.agentTurns().valueSerde().serializer().serialize(to.topic(), turn);
        return new ConsumerRecord<>(
                to.topic(), to.partition(), offset, turn.getJobId(), lenient.deserialize(to.topic(), bytes));
    }

    private AgentTurn turn(String jobId, int turn, long emittedAtMs) {
        return Fixtures.turn(
                jobId, spec.getBatchId(), turn, List.of(Fixtures.user("Population of " + jobId + "?")), emittedAtMs);
    }

    private List<AgentResult> results() {
        return Fixtures.finalResults(producer.history());
    }
}
