package io.batchagent.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.events.AgentJob;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

@WithKafka
class EmbeddedKafkaExtensionIT {

    private static String bootstrapServersSeenByBeforeAll;

    private final KafkaCluster cluster;

    EmbeddedKafkaExtensionIT(KafkaCluster cluster) {
        this.cluster = cluster;
    }

    @BeforeAll
    static void recordCluster(KafkaCluster cluster) {
        bootstrapServersSeenByBeforeAll = cluster.bootstrapServers();
    }

    @Test
    void shouldInjectTheSameBrokerEverywhere(KafkaCluster parameter) throws Exception {
        assertThat(parameter.bootstrapServers())
                .isEqualTo(cluster.bootstrapServers())
                .isEqualTo(bootstrapServersSeenByBeforeAll);
        assertThat(cluster.clientConfig()).containsEntry("bootstrap.servers", cluster.bootstrapServers());
        assertThat(cluster.admin().describeCluster().nodes().get()).hasSize(1);
    }

    @Test
    void shouldCreateTheCatalogueWithCompactedTopicsCompacted(TestInfo testInfo) throws Exception {
        // Given
        Topics topics = Topics.create(TestNames.of(testInfo).topicPrefix(), Map.of());

        // When
        cluster.createTopics(topics, 3);

        // Then
        Set<String> names = topics.all().stream().map(Topics.Topic::name).collect(Collectors.toSet());
        assertThat(cluster.admin().listTopics().names().get()).containsAll(names);
        assertThat(cleanupPolicy(topics.batchSpecs().name())).isEqualTo(TopicConfig.CLEANUP_POLICY_COMPACT);
        assertThat(cleanupPolicy(topics.results().name())).isEqualTo(TopicConfig.CLEANUP_POLICY_COMPACT);
        assertThat(cleanupPolicy(topics.agentJobs().name())).isEqualTo(TopicConfig.CLEANUP_POLICY_DELETE);
        assertThat(cluster.admin().describeTopics(names).allTopicNames().get().values())
                .allSatisfy(description -> assertThat(description.partitions()).hasSize(3));
    }

    @Test
    void shouldAcceptTopicsThatExistAlready(TestInfo testInfo) throws Exception {
        // Given
        Topics topics = Topics.create(TestNames.of(testInfo).topicPrefix(), Map.of());
        cluster.createTopics(topics, 1);

        // When
        cluster.createTopics(topics, 1);

        // Then
        assertThat(cluster.admin().listTopics().names().get())
                .contains(topics.agentJobs().name());
    }

    @Test
    void shouldCarryEventsThroughTheCatalogueSerdes(TestInfo testInfo) {
        // Given
        TestNames names = TestNames.of(testInfo);
        Topics topics = Topics.create(names.topicPrefix(), Map.of());
        cluster.createTopics(topics, 1);
        Topics.Topic<String, AgentJob> agentJobs = topics.agentJobs();
        AgentJob job = AgentJob.newBuilder()
                .setJobId("job-1")
                .setBatchId("batch-1")
                .setIndex(0)
                .setInputJson("{}")
                .setSubmittedAtMs(1L)
                .build();

        // When
        try (KafkaProducer<String, AgentJob> producer = new KafkaProducer<>(
                cluster.producerConfig(),
                agentJobs.keySerde().serializer(),
                agentJobs.valueSerde().serializer())) {
            producer.send(new ProducerRecord<>(agentJobs.name(), job.getJobId(), job));
        }

        // Then
        Map<String, Object> consumerConfig = new HashMap<>(cluster.clientConfig());
        consumerConfig.put(ConsumerConfig.GROUP_ID_CONFIG, names.applicationId());
        consumerConfig.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        List<AgentJob> received = new ArrayList<>();
        try (KafkaConsumer<String, AgentJob> consumer = new KafkaConsumer<>(
                consumerConfig,
                agentJobs.keySerde().deserializer(),
                agentJobs.valueSerde().deserializer())) {
            consumer.subscribe(List.of(agentJobs.name()));
            await().atMost(Duration.ofSeconds(30)).pollInSameThread().untilAsserted(() -> {
                consumer.poll(Duration.ofMillis(100)).forEach(record -> received.add(record.value()));
                assertThat(received).containsExactly(job);
            });
        }
    }

    private String cleanupPolicy(String topic) throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        return cluster.admin()
                .describeConfigs(List.of(resource))
                .all()
                .get()
                .get(resource)
                .get(TopicConfig.CLEANUP_POLICY_CONFIG)
                .value();
    }
}
