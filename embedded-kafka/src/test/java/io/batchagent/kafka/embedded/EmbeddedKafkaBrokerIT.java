package io.batchagent.kafka.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedKafkaBrokerIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    @TempDir
    Path dataDir;

    @Test
    void shouldRoundTripRecordsThroughARealBroker() throws Exception {
        // Given
        try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start(dataDir)) {
            createTopic(broker, "round-trip", 2);

            // When
            produce(broker, "round-trip", List.of("a", "b", "c"));
            List<String> values = consume(broker, "round-trip", "round-trip-reader", 3);

            // Then
            assertThat(broker.bootstrapServers()).startsWith("127.0.0.1:");
            assertThat(values).containsExactlyInAnyOrder("a", "b", "c");
        }
    }

    @Test
    void shouldResumeTopicsRecordsAndCommittedOffsetsAfterRestartOnTheSameDirectory() throws Exception {
        // Given: a topic with three records, two of them consumed and committed by a group
        String clusterId;
        try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start(dataDir)) {
            clusterId = broker.clusterId();
            createTopic(broker, "durable", 1);
            produce(broker, "durable", List.of("one", "two", "three"));
            try (KafkaConsumer<String, String> consumer = consumer(broker, "durable-group")) {
                consumer.assign(List.of(new TopicPartition("durable", 0)));
                consumer.commitSync(Map.of(new TopicPartition("durable", 0), new OffsetAndMetadata(2)));
            }
        }

        // When
        try (EmbeddedKafkaBroker restarted = EmbeddedKafkaBroker.start(dataDir)) {

            // Then
            assertThat(restarted.clusterId()).isEqualTo(clusterId);
            try (Admin admin = admin(restarted)) {
                assertThat(admin.listTopics().names().get()).contains("durable");
                assertThat(admin.describeCluster().clusterId().get()).isEqualTo(clusterId);
                Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets("durable-group")
                        .partitionsToOffsetAndMetadata()
                        .get();
                assertThat(committed.get(new TopicPartition("durable", 0)).offset())
                        .isEqualTo(2);
            }
            assertThat(consume(restarted, "durable", "durable-rereader", 3)).containsExactly("one", "two", "three");
            assertThat(consume(restarted, "durable", "durable-group", 1)).containsExactly("three");
        }
    }

    @Test
    void shouldRunTwoIndependentBrokersAtOnce(@TempDir Path otherDataDir) throws Exception {
        // Given
        try (EmbeddedKafkaBroker first = EmbeddedKafkaBroker.start(dataDir);
                EmbeddedKafkaBroker second = EmbeddedKafkaBroker.start(otherDataDir)) {

            // When
            createTopic(first, "only-on-first", 1);
            createTopic(second, "only-on-second", 1);
            produce(first, "only-on-first", List.of("first"));
            produce(second, "only-on-second", List.of("second"));

            // Then
            assertThat(first.bootstrapServers()).isNotEqualTo(second.bootstrapServers());
            assertThat(first.clusterId()).isNotEqualTo(second.clusterId());
            assertThat(topicNames(first)).contains("only-on-first").doesNotContain("only-on-second");
            assertThat(topicNames(second)).contains("only-on-second").doesNotContain("only-on-first");
            assertThat(consume(first, "only-on-first", "reader", 1)).containsExactly("first");
            assertThat(consume(second, "only-on-second", "reader", 1)).containsExactly("second");
        }
    }

    @Test
    void shouldRetryATransactionsFirstWriteAfterFiveMillisecondsUnlessTold() throws Exception {
        // Given: one broker with the defaults, one told otherwise
        try (EmbeddedKafkaBroker defaults = EmbeddedKafkaBroker.start(dataDir);
                EmbeddedKafkaBroker told = EmbeddedKafkaBroker.start(
                        EmbeddedKafkaBroker.Options.builder(dataDir.resolveSibling(dataDir.getFileName() + "-told"))
                                .brokerProperty("add.partitions.to.txn.retry.backoff.ms", "20")
                                .build())) {

            // When / Then: the broker's own configuration says which backoff it runs with (Kafka's default is 20)
            assertThat(brokerSetting(defaults, "add.partitions.to.txn.retry.backoff.ms"))
                    .isEqualTo("5");
            assertThat(brokerSetting(told, "add.partitions.to.txn.retry.backoff.ms"))
                    .isEqualTo("20");
        }
    }

    @Test
    void shouldListenOnAFixedPortWhenAsked() throws Exception {
        // Given: a port that was free a moment ago
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }

        // When
        try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start(EmbeddedKafkaBroker.Options.builder(dataDir)
                .port(port)
                .brokerProperty("num.partitions", "3")
                .build())) {

            // Then
            assertThat(broker.bootstrapServers()).isEqualTo("127.0.0.1:" + port);
            assertThat(broker.dataDir()).isEqualTo(dataDir.toAbsolutePath());
            try (Admin admin = admin(broker)) {
                admin.createTopics(List.of(new NewTopic("default-partitions", Optional.empty(), Optional.empty())))
                        .all()
                        .get();
                // A new topic's metadata can reach the broker's cache a moment after createTopics returns.
                await().atMost(Duration.ofSeconds(30))
                        .ignoreExceptions()
                        .untilAsserted(() -> assertThat(admin.describeTopics(List.of("default-partitions"))
                                        .allTopicNames()
                                        .get()
                                        .get("default-partitions")
                                        .partitions())
                                .hasSize(3));
            }
        }
    }

    @Test
    void shouldRefuseASecondBrokerOnADirectoryInUse() throws Exception {
        // Given
        try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start(dataDir)) {

            // When / Then
            assertThatThrownBy(() -> EmbeddedKafkaBroker.start(dataDir))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining(dataDir.toAbsolutePath().toString())
                    .hasMessageContaining("in use");
            createTopic(broker, "still-serving", 1);
            assertThat(topicNames(broker)).contains("still-serving");
        }
    }

    @Test
    void shouldRejectInvalidOptions() {
        assertThatThrownBy(() ->
                        EmbeddedKafkaBroker.Options.builder(dataDir).port(70000).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("port");
        assertThatThrownBy(() -> EmbeddedKafkaBroker.Options.builder(dataDir)
                        .port(9092)
                        .controllerPort(9092)
                        .build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("must differ");
    }

    private static String brokerSetting(EmbeddedKafkaBroker broker, String name) throws Exception {
        try (Admin admin = admin(broker)) {
            int node = admin.describeCluster().nodes().get().iterator().next().id();
            ConfigResource resource = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(node));
            return admin.describeConfigs(List.of(resource))
                    .all()
                    .get()
                    .get(resource)
                    .get(name)
                    .value();
        }
    }

    private static Admin admin(EmbeddedKafkaBroker broker) {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers()));
    }

    private static Set<String> topicNames(EmbeddedKafkaBroker broker) throws Exception {
        try (Admin admin = admin(broker)) {
            return admin.listTopics().names().get();
        }
    }

    private static void createTopic(EmbeddedKafkaBroker broker, String topic, int partitions) throws Exception {
        try (Admin admin = admin(broker)) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1)))
                    .all()
                    .get();
        }
    }

    private static void produce(EmbeddedKafkaBroker broker, String topic, List<String> values) throws Exception {
        // One request in flight: the topic was created a moment before (KAFKA-15591).
        Map<String, Object> config = Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                broker.bootstrapServers(),
                ProducerConfig.ACKS_CONFIG,
                "all",
                ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION,
                1);
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(config, new StringSerializer(), new StringSerializer())) {
            for (String value : values) {
                producer.send(new ProducerRecord<>(topic, value, value)).get();
            }
        }
    }

    private static KafkaConsumer<String, String> consumer(EmbeddedKafkaBroker broker, String groupId) {
        Map<String, Object> config = Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                broker.bootstrapServers(),
                ConsumerConfig.GROUP_ID_CONFIG,
                groupId,
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                "earliest",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
                "false");
        return new KafkaConsumer<>(config, new StringDeserializer(), new StringDeserializer());
    }

    /** Polls until exactly {@code count} values arrived, failing after {@link #TIMEOUT}. */
    private static List<String> consume(EmbeddedKafkaBroker broker, String topic, String groupId, int count) {
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = consumer(broker, groupId)) {
            consumer.subscribe(List.of(topic));
            await().atMost(TIMEOUT).pollInSameThread().untilAsserted(() -> {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(100))) {
                    values.add(record.value());
                }
                assertThat(values).hasSize(count);
            });
        }
        return values;
    }
}
