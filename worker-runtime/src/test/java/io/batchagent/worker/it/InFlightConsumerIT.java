package io.batchagent.worker.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import io.batchagent.worker.GroupSettings;
import io.batchagent.worker.InFlightConsumer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** The consumer loop on a real broker, with the group settings the workers use: rebalances and commits. */
@WithKafka
class InFlightConsumerIT {

    private static final Duration PATIENCE = Duration.ofSeconds(90);

    private final List<AutoCloseable> closeables = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (int i = closeables.size() - 1; i >= 0; i--) {
            closeables.get(i).close();
        }
    }

    /** Assignment changes one loop saw, in order. */
    private static final class Assignments implements ConsumerRebalanceListener {
        final Set<TopicPartition> owned = ConcurrentHashMap.newKeySet();
        final List<TopicPartition> revoked = new CopyOnWriteArrayList<>();
        final List<TopicPartition> lost = new CopyOnWriteArrayList<>();

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            revoked.addAll(partitions);
            owned.removeAll(partitions);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            owned.addAll(partitions);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            lost.addAll(partitions);
            owned.removeAll(partitions);
        }
    }

    @Test
    void shouldRevokeOnlyTheMovedPartitionsWhenASecondConsumerJoinsMidBatch(KafkaCluster kafka, TestInfo info)
            throws Exception {
        // Given 4 partitions of 10 records each, all in flight on a first consumer that holds them
        TestNames names = TestNames.of(info);
        String topic = names.topicPrefix() + "work";
        String group = names.applicationId();
        createTopic(kafka, topic, 4);
        produce(kafka, topic, 4, 10);
        Map<String, CompletableFuture<Void>> heldByFirst = new ConcurrentHashMap<>();
        Assignments first = new Assignments();
        InFlightConsumer<String, String> firstLoop = loop(kafka, topic, group, "first", first, record -> {
            CompletableFuture<Void> done = new CompletableFuture<>();
            heldByFirst.put(record.partition() + "@" + record.offset(), done);
            return done;
        });
        await().atMost(PATIENCE).until(() -> heldByFirst.size() == 40);
        assertThat(first.owned).hasSize(4);

        // When a second consumer joins the group and completes what it gets at once
        Assignments second = new Assignments();
        Set<String> handledBySecond = ConcurrentHashMap.newKeySet();
        InFlightConsumer<String, String> secondLoop = loop(kafka, topic, group, "second", second, record -> {
            handledBySecond.add(record.partition() + "@" + record.offset());
            return CompletableFuture.completedFuture(null);
        });
        await().atMost(PATIENCE).until(() -> !second.owned.isEmpty() && first.owned.size() + second.owned.size() == 4);

        // Then the first consumer gave up exactly the partitions that moved, and kept the others without a revocation
        assertThat(new HashSet<>(first.revoked)).isEqualTo(second.owned);
        assertThat(first.revoked).hasSize(second.owned.size()).hasSizeLessThan(4);
        assertThat(first.lost).isEmpty();
        assertThat(first.owned).doesNotContainAnyElementsOf(second.owned);

        // And the second consumer handled the moved partitions from the start (nothing of them was committed)
        Set<String> moved = new HashSet<>();
        for (TopicPartition partition : second.owned) {
            IntStream.range(0, 10).forEach(offset -> moved.add(partition.partition() + "@" + offset));
        }
        await().atMost(PATIENCE).until(() -> handledBySecond.containsAll(moved));
        assertThat(handledBySecond).isEqualTo(moved);

        // When the first consumer's stages complete, the stale copies of the moved partitions included
        heldByFirst.values().forEach(done -> done.complete(null));

        // Then every partition is committed to its end, and both loops still run
        await().atMost(PATIENCE)
                .until(() -> committed(kafka, group, topic, 4).values().stream().allMatch(o -> o == 10L));
        assertThat(firstLoop.isRunning()).isTrue();
        assertThat(secondLoop.isRunning()).isTrue();
    }

    @Test
    void shouldNeverAbortACommitWhileCompletionsArriveContinuously(KafkaCluster kafka, TestInfo info) throws Exception {
        // Given 5,000 records on partition 0, and a producer that keeps partition 1 busy for the whole test
        TestNames names = TestNames.of(info);
        String topic = names.topicPrefix() + "busy";
        String group = names.applicationId();
        createTopic(kafka, topic, 2);
        produce(kafka, topic, 1, 5_000);
        AtomicBoolean producing = new AtomicBoolean(true);
        Thread feeder = new Thread(
                () -> {
                    try (KafkaProducer<String, String> producer = producer(kafka)) {
                        while (producing.get()) {
                            producer.send(new ProducerRecord<>(topic, 1, "k", "v"));
                        }
                    }
                },
                "feeder");
        feeder.start();
        closeables.add(() -> {
            producing.set(false);
            feeder.join(30_000);
        });

        // When a loop completes every record at once, on other threads a millisecond later, so that
        // completions keep arriving at every moment, commits included
        ExecutorService completer = Executors.newFixedThreadPool(2);
        closeables.add(completer::shutdownNow);
        Executor soon = CompletableFuture.delayedExecutor(1, TimeUnit.MILLISECONDS, completer);
        CountingConsumer consumer = new CountingConsumer(consumerConfig(kafka, group, "busy"));
        InFlightConsumer<String, String> loop =
                loop(consumer, topic, "busy", null, record -> CompletableFuture.runAsync(() -> {}, soon));

        // Then partition 0's committed offset reaches its end while partition 1's completions keep coming
        TopicPartition p0 = new TopicPartition(topic, 0);
        await().atMost(PATIENCE).until(() -> committed(kafka, group, topic, 2).getOrDefault(p0, -1L) == 5_000L);
        long completedThen = loop.completed();
        await().atMost(PATIENCE).until(() -> loop.completed() > completedThen + 1_000);
        assertThat(producing.get()).isTrue();

        // And no commit was ever aborted by a wake-up: completions wake the loop only while it polls
        assertThat(consumer.commits.get()).isPositive();
        assertThat(consumer.wokenCommits.get()).isZero();
    }

    /** A real consumer that counts its synchronous commits, and those a wake-up aborted. */
    private static final class CountingConsumer extends KafkaConsumer<String, String> {
        final AtomicLong commits = new AtomicLong();
        final AtomicLong wokenCommits = new AtomicLong();

        CountingConsumer(Map<String, Object> config) {
            super(config, new StringDeserializer(), new StringDeserializer());
        }

        @Override
        public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
            try {
                super.commitSync(offsets);
                commits.incrementAndGet();
            } catch (WakeupException e) {
                wokenCommits.incrementAndGet();
                throw e;
            }
        }
    }

    private InFlightConsumer<String, String> loop(
            KafkaCluster kafka,
            String topic,
            String group,
            String name,
            ConsumerRebalanceListener observer,
            InFlightConsumer.Handler<String, String> handler) {
        return loop(
                new KafkaConsumer<>(
                        consumerConfig(kafka, group, name), new StringDeserializer(), new StringDeserializer()),
                topic,
                name,
                observer,
                handler);
    }

    private InFlightConsumer<String, String> loop(
            KafkaConsumer<String, String> consumer,
            String topic,
            String name,
            ConsumerRebalanceListener observer,
            InFlightConsumer.Handler<String, String> handler) {
        InFlightConsumer<String, String> loop = new InFlightConsumer<>(
                consumer,
                List.of(topic),
                handler,
                InFlightConsumer.Options.<String, String>of(name, 64)
                        .withMaxBuffered(64)
                        .withRebalanceObserver(observer));
        loop.start();
        closeables.add(loop);
        return loop;
    }

    /** The settings the workers use: no auto-commit, and the group protocol of {@link GroupSettings}. */
    private static Map<String, Object> consumerConfig(KafkaCluster kafka, String group, String name) {
        Map<String, Object> config = new HashMap<>(kafka.clientConfig());
        config.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        config.put(ConsumerConfig.CLIENT_ID_CONFIG, group + "-" + name);
        return GroupSettings.incrementalRebalancing(config);
    }

    private static void createTopic(KafkaCluster kafka, String topic, int partitions) throws Exception {
        kafka.admin()
                .createTopics(List.of(new NewTopic(topic, partitions, (short) 1)))
                .all()
                .get(30, TimeUnit.SECONDS);
    }

    private static KafkaProducer<String, String> producer(KafkaCluster kafka) {
        Map<String, Object> config = kafka.producerConfig();
        config.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        return new KafkaProducer<>(config, new StringSerializer(), new StringSerializer());
    }

    private static void produce(KafkaCluster kafka, String topic, int partitions, int perPartition) {
        try (KafkaProducer<String, String> producer = producer(kafka)) {
            for (int partition = 0; partition < partitions; partition++) {
                for (int i = 0; i < perPartition; i++) {
                    producer.send(new ProducerRecord<>(topic, partition, "k" + i, "v" + i));
                }
            }
            producer.flush();
        }
    }

    private static Map<TopicPartition, Long> committed(KafkaCluster kafka, String group, String topic, int partitions)
            throws Exception {
        Map<TopicPartition, OffsetAndMetadata> offsets = kafka.admin()
                .listConsumerGroupOffsets(group)
                .partitionsToOffsetAndMetadata()
                .get(30, TimeUnit.SECONDS);
        Map<TopicPartition, Long> committed = new HashMap<>();
        for (int partition = 0; partition < partitions; partition++) {
            OffsetAndMetadata offset = offsets.get(new TopicPartition(topic, partition));
            committed.put(new TopicPartition(topic, partition), offset == null ? -1L : offset.offset());
        }
        return committed;
    }
}
