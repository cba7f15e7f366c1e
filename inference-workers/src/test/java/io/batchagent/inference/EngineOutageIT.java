package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ErrorReason;
import io.batchagent.schemas.Topics;
import io.batchagent.simulator.EngineFaults;
import io.batchagent.simulator.EngineProfile;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.TopicContents;
import io.batchagent.testkit.WithKafka;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * Engine outages on a real broker and the simulator's fault modes: a worker pauses through an outage
 * and fails nothing; an engine that never comes back ends every job ENGINE_UNAVAILABLE after the budget.
 */
@WithKafka
class EngineOutageIT {

    private static final Duration PATIENCE = Duration.ofMinutes(3);
    private static final int MAX_INFLIGHT = 16;
    /** About 0.3 s per scripted tool-call answer, so that an outage meets calls in flight. */
    private static final EngineProfile SLOW = new EngineProfile("slow-test", 100_000, 8, 0.2, 1L << 22, 8_192, 256);

    private EngineSimulator simulator;
    private OpenAiCompatibleClient client;
    private InferenceWorker worker;

    @AfterEach
    void close() {
        if (worker != null) {
            worker.close();
        }
        if (client != null) {
            client.close();
        }
        if (simulator != null) {
            simulator.close();
        }
    }

    @Test
    void shouldPauseThroughAnOutageMidBatchAndEndWithNothingFailedAndNoCallAnsweredTwice(
            KafkaCluster kafka, TestInfo info) throws Exception {
        // Given 200 agents' first turns and an engine that answers each in about 0.3 s
        TestNames names = TestNames.of(info);
        Topics topics = topics(kafka, names);
        submit(kafka, topics, "batch-outage", 200);
        simulator =
                EngineSimulator.start(SimulatorOptions.builder().profile(SLOW).build());
        CountingClient engine = new CountingClient(client());
        worker = new InferenceWorker(kafka.clientConfig(), topics, config(names, Duration.ofMinutes(2)), engine);
        worker.start();

        // When the engine goes down a quarter of the way through, and comes back once the worker has
        // paused and the engine has refused several probes
        await().atMost(PATIENCE).until(() -> outcomes(kafka, topics).size() >= 50);
        simulator.setFaults(EngineFaults.parse("down=true", EngineFaults.NONE));
        await().atMost(PATIENCE).until(() -> worker.pausedMillis() > 0 && refused() >= 3 * MAX_INFLIGHT + 3);
        int outcomesWhileDown = outcomes(kafka, topics).size();
        long refusedWhileDown = refused();
        await().atMost(PATIENCE).until(() -> refused() >= refusedWhileDown + 2);
        assertThat(outcomes(kafka, topics))
                .as("no turn ends while the engine is down")
                .hasSize(outcomesWhileDown);
        simulator.setFaults(EngineFaults.NONE);

        // Then every agent's turn ends, none failed, and no call was answered twice
        await().atMost(PATIENCE).until(() -> outcomes(kafka, topics).size() == 200);
        assertThat(outcomes(kafka, topics).values())
                .allSatisfy(turn -> assertThat(turn.getFinalResult())
                        .as("turn of %s ended with a result", turn.getJobId())
                        .isNull());
        assertThat(worker.failed()).isZero();
        assertThat(simulator.repeatedCalls()).isZero();

        // And every job's call was answered once; only the calls in flight when the outage began were sent
        // again (a call cut by the outage may fail once more before the breaker opens: at most 3 sends)
        assertThat(engine.answeredPerJob())
                .hasSize(200)
                .allSatisfy((job, answered) -> assertThat(answered).isEqualTo(1));
        assertThat(engine.callsPerJob())
                .hasSize(200)
                .allSatisfy((job, calls) -> assertThat(calls).isBetween(1, 3));
        assertThat(engine.callsPerJob().values().stream()
                        .filter(calls -> calls > 1)
                        .count())
                .isPositive()
                .isLessThanOrEqualTo(MAX_INFLIGHT);
        assertThat(worker.pausedMillis()).isPositive();
    }

    @Test
    void shouldEndEveryJobEngineUnavailableAfterTheBudgetWhenTheEngineNeverComesBack(KafkaCluster kafka, TestInfo info)
            throws Exception {
        // Given an engine that is down from the start and a 2 s outage budget
        TestNames names = TestNames.of(info);
        Topics topics = topics(kafka, names);
        submit(kafka, topics, "batch-gone", 20);
        simulator = EngineSimulator.start(SimulatorOptions.builder()
                .profile(EngineProfile.INSTANT)
                .faults(EngineFaults.parse("down=true", EngineFaults.NONE))
                .build());
        worker = new InferenceWorker(kafka.clientConfig(), topics, config(names, Duration.ofSeconds(2)), client());

        // When the worker runs the batch
        worker.start();

        // Then every job ends FAILED with ENGINE_UNAVAILABLE, naming the budget and the engine's last answer
        await().atMost(PATIENCE).until(() -> outcomes(kafka, topics).size() == 20);
        assertThat(outcomes(kafka, topics).values())
                .extracting(AgentTurn::getFinalResult)
                .allSatisfy(result -> {
                    assertThat(result.getError().getReason()).isEqualTo(ErrorReason.ENGINE_UNAVAILABLE);
                    assertThat(result.getError().getMessage())
                            .contains("outage budget of 2 s")
                            .contains("503");
                });
        assertThat(worker.isRunning()).isTrue();
        assertThat(simulator.stats().requests()).isZero();
    }

    private long refused() {
        return simulator.faultsInjected().getOrDefault(EngineFaults.Fault.OUTAGE, 0L);
    }

    private OpenAiCompatibleClient client() {
        client = new OpenAiCompatibleClient(
                EngineEndpoint.parse("sglang://127.0.0.1:" + simulator.port()),
                InferenceWorkerConfig.defaults().withMaxInflight(MAX_INFLIGHT).withRetryBackoff(Duration.ofMillis(20)));
        return client;
    }

    private static InferenceWorkerConfig config(TestNames names, Duration outageBudget) {
        return InferenceWorkerConfig.defaults()
                .withGroupId(names.applicationId())
                .withMaxInflight(MAX_INFLIGHT)
                .withFlowControl(FlowControl.defaults()
                        .withOutageBudget(outageBudget)
                        .withProbeDelays(Duration.ofMillis(100), Duration.ofMillis(400)));
    }

    private static Topics topics(KafkaCluster kafka, TestNames names) throws Exception {
        Topics topics = Topics.create(names.topicPrefix(), Map.of());
        kafka.createTopics(topics, 2);
        return topics;
    }

    private static void submit(KafkaCluster kafka, Topics topics, String batchId, int agents) throws Exception {
        BatchSpec spec = Fixtures.spec(batchId);
        try (KafkaProducer<String, byte[]> producer =
                new KafkaProducer<>(kafka.producerConfig(), new StringSerializer(), new ByteArraySerializer())) {
            producer.send(record(topics.batchSpecs(), batchId, spec)).get(30, TimeUnit.SECONDS);
            for (int i = 0; i < agents; i++) {
                String job = batchId + "-" + i;
                producer.send(record(
                        topics.agentTurns(),
                        job,
                        Fixtures.turn(
                                job,
                                batchId,
                                1,
                                List.of(Fixtures.user("Find the population of city " + i + ".")),
                                System.currentTimeMillis())));
            }
            producer.flush();
        }
    }

    private static <V> ProducerRecord<String, byte[]> record(Topics.Topic<String, V> topic, String key, V value) {
        return new ProducerRecord<>(
                topic.name(), key, topic.valueSerde().serializer().serialize(topic.name(), value));
    }

    /** Each job's latest outcome on agent-waits: its waiting turn, or a turn carrying its final result. */
    private static Map<String, AgentTurn> outcomes(KafkaCluster kafka, Topics topics) {
        return TopicContents.read(kafka.clientConfig(), topics.agentWaits()).stream()
                .collect(Collectors.toMap(AgentTurn::getJobId, Function.identity(), (a, b) -> b));
    }

    /** Counts the model calls the worker makes per job (each call, not each HTTP attempt inside it). */
    private static final class CountingClient implements EngineClient {
        private final EngineClient delegate;
        private final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
        private final Map<String, AtomicInteger> answered = new ConcurrentHashMap<>();

        CountingClient(EngineClient delegate) {
            this.delegate = delegate;
        }

        @Override
        public CompletableFuture<ChatResponse> complete(ChatRequest request) {
            if (request.turn() <= 0) {
                return delegate.complete(request);
            }
            calls.computeIfAbsent(request.jobId(), job -> new AtomicInteger()).incrementAndGet();
            return delegate.complete(request).thenApply(response -> {
                if (response.failure() == null) {
                    answered.computeIfAbsent(request.jobId(), job -> new AtomicInteger())
                            .incrementAndGet();
                }
                return response;
            });
        }

        Map<String, Integer> callsPerJob() {
            return counts(calls);
        }

        Map<String, Integer> answeredPerJob() {
            return counts(answered);
        }

        private static Map<String, Integer> counts(Map<String, AtomicInteger> counters) {
            return counters.entrySet().stream()
                    .collect(Collectors.toMap(
                            Map.Entry::getKey, e -> e.getValue().get()));
        }
    }
}
