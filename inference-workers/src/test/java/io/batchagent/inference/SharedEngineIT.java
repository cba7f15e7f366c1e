package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.schemas.Topics;
import io.batchagent.simulator.EngineProfile;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.TopicContents;
import io.batchagent.testkit.WithKafka;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Adaptive concurrency on a real broker: three inference workers share one simulated engine that runs eight
 * requests at once. Each worker's ceiling is 16 (48 together); the engine's queue, which every worker reads,
 * keeps their combined in-flight near what the engine can run.
 */
@WithKafka
class SharedEngineIT {

    private static final Logger LOGGER = LoggerFactory.getLogger(SharedEngineIT.class);
    private static final Duration PATIENCE = Duration.ofMinutes(3);
    private static final int ENGINE_SEATS = 8;
    private static final int CEILING = 16;
    private static final int AGENTS = 150;
    /** Eight seats, and decode steps slow enough (about 0.3 s per scripted answer) for a queue to show. */
    private static final EngineProfile EIGHT_SEATS =
            new EngineProfile("eight-seats", 100_000, 8, 0.2, 1L << 22, 8_192, ENGINE_SEATS);

    private EngineSimulator simulator;
    private final List<OpenAiCompatibleClient> clients = new ArrayList<>();
    private final List<InferenceWorker> workers = new ArrayList<>();
    private final ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor();

    @AfterEach
    void close() {
        sampler.shutdownNow();
        workers.forEach(InferenceWorker::close);
        clients.forEach(OpenAiCompatibleClient::close);
        if (simulator != null) {
            simulator.close();
        }
    }

    @Test
    void shouldKeepThreeWorkersCombinedInFlightNearTheEnginesCapacityWhileRaisingAndCuttingEachLimit(
            KafkaCluster kafka, TestInfo info) throws Exception {
        // Given 150 agents' turns on six partitions of each input topic, and an engine with eight seats
        TestNames names = TestNames.of(info);
        Topics topics = Topics.create(names.topicPrefix(), Map.of());
        kafka.createTopics(topics, 6);
        simulator = EngineSimulator.start(
                SimulatorOptions.builder().profile(EIGHT_SEATS).build());
        EngineEndpoint endpoint = EngineEndpoint.parse("sglang://127.0.0.1:" + simulator.port());
        InferenceWorkerConfig config = InferenceWorkerConfig.defaults()
                .withGroupId(names.applicationId())
                .withMaxInflight(CEILING);

        // When three workers with adaptive concurrency share it, each reading the engine's metrics page
        List<Integer> engineInFlight = new CopyOnWriteArrayList<>();
        List<List<Integer>> limits =
                List.of(new CopyOnWriteArrayList<>(), new CopyOnWriteArrayList<>(), new CopyOnWriteArrayList<>());
        for (int i = 0; i < 3; i++) {
            OpenAiCompatibleClient client = new OpenAiCompatibleClient(endpoint, config);
            clients.add(client);
            workers.add(new InferenceWorker(
                    kafka.clientConfig(), topics, config, client, new EngineAdmin(endpoint, config)));
        }
        workers.forEach(InferenceWorker::start);
        await().atMost(PATIENCE)
                .ignoreExceptions()
                .until(() -> membersWithPartitions(kafka, names.applicationId()) == 3);
        submit(kafka, topics, "batch-shared");
        sampler.scheduleAtFixedRate(
                () -> {
                    int atEngine = simulator.stats().inFlight();
                    if (atEngine > 0) {
                        engineInFlight.add(atEngine);
                        for (int i = 0; i < 3; i++) {
                            limits.get(i).add(workers.get(i).limit());
                        }
                    }
                },
                0,
                50,
                TimeUnit.MILLISECONDS);

        // Then every turn ends
        await().atMost(PATIENCE).until(() -> outcomes(kafka, topics).size() == AGENTS);
        sampler.shutdown();
        sampler.awaitTermination(5, TimeUnit.SECONDS);
        List<Integer> sorted = engineInFlight.stream().sorted().toList();
        int median = sorted.get(sorted.size() / 2);
        LOGGER.info(
                "engine in-flight while busy: samples={} median={} p90={} max={}; worker in-flight at call starts: {}",
                sorted.size(),
                median,
                sorted.get(sorted.size() * 9 / 10),
                sorted.get(sorted.size() - 1),
                workers.stream().map(InferenceWorker::inFlightSummary).toList());

        // And the combined in-flight stayed near the engine's eight seats, far below the 48 the ceilings allow,
        // while the engine was kept busy
        assertThat(median).isBetween(ENGINE_SEATS - 2, ENGINE_SEATS + ENGINE_SEATS / 2);
        assertThat(sorted.get(sorted.size() * 9 / 10)).isLessThanOrEqualTo(2 * ENGINE_SEATS);

        // And each worker's limit rose above where it started and was cut when the engine queued
        for (List<Integer> limit : limits) {
            assertThat(limit.stream().mapToInt(Integer::intValue).max().orElse(0))
                    .isGreaterThan(AdaptiveConcurrency.initialLimit(CEILING));
            assertThat(cutSomewhere(limit))
                    .as("the limit fell below an earlier value: %s", limit)
                    .isTrue();
        }
    }

    /** Whether some sample is below an earlier one: the limit was cut after rising. */
    private static boolean cutSomewhere(List<Integer> samples) {
        int highest = Integer.MIN_VALUE;
        for (int sample : samples) {
            if (sample < highest) {
                return true;
            }
            highest = Math.max(highest, sample);
        }
        return false;
    }

    /** Members of the group that own at least one partition. */
    private static long membersWithPartitions(KafkaCluster kafka, String groupId) throws Exception {
        return kafka
                .admin()
                .describeConsumerGroups(List.of(groupId))
                .all()
                .get(30, TimeUnit.SECONDS)
                .get(groupId)
                .members()
                .stream()
                .filter(member -> !member.assignment().topicPartitions().isEmpty())
                .count();
    }

    private static void submit(KafkaCluster kafka, Topics topics, String batchId) throws Exception {
        BatchSpec spec = Fixtures.spec(batchId);
        try (KafkaProducer<String, byte[]> producer =
                new KafkaProducer<>(kafka.producerConfig(), new StringSerializer(), new ByteArraySerializer())) {
            producer.send(record(topics.batchSpecs(), batchId, spec)).get(30, TimeUnit.SECONDS);
            for (int i = 0; i < AGENTS; i++) {
                String job = batchId + "-" + i;
                // Over both input topics, so that every worker gets turns whichever partitions it was given.
                producer.send(record(
                        i % 2 == 0 ? topics.agentTurns() : topics.agentContinuations(),
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

    private static Map<String, AgentTurn> outcomes(KafkaCluster kafka, Topics topics) {
        return TopicContents.read(kafka.clientConfig(), topics.agentWaits()).stream()
                .collect(Collectors.toMap(AgentTurn::getJobId, Function.identity(), (a, b) -> b));
    }
}
