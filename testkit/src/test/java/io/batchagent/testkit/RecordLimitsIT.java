package io.batchagent.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.schemas.RecordLimits;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** The record budget holds end to end on a real broker: what a stage may write, its producer sends and its topic keeps. */
@WithKafka
class RecordLimitsIT {

    @Test
    void shouldCreateEveryTopicWithTheBudgetAndAcceptTheLargestRecordAStageMayWrite(KafkaCluster cluster, TestInfo info)
            throws Exception {
        Topics topics = Topics.create(TestNames.of(info).topicPrefix(), Map.of());
        RecordLimits limits = topics.limits();
        cluster.createTopics(topics, 1);

        for (Topics.Topic<String, ?> topic : topics.all()) {
            Config config = cluster.admin()
                    .describeConfigs(List.of(new ConfigResource(ConfigResource.Type.TOPIC, topic.name())))
                    .all()
                    .get()
                    .values()
                    .iterator()
                    .next();
            assertThat(config.get(TopicConfig.MAX_MESSAGE_BYTES_CONFIG).value())
                    .as(topic.name())
                    .isEqualTo(Integer.toString(limits.maxMessageBytes()));
        }

        // The largest value a stage may write, incompressible, with a key and headers, goes through.
        byte[] value = new byte[limits.maxValueBytes()];
        new Random(7).nextBytes(value);
        String topic = topics.agentTurns().name();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(
                limits.producerConfig(cluster.clientConfig()), new ByteArraySerializer(), new ByteArraySerializer())) {
            ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(topic, "job-000001".getBytes(), value);
            record.headers()
                    .add("batchagent.job-id", "job-000001".getBytes())
                    .add("batchagent.batch-id", "batch".getBytes());
            producer.send(record).get();
        }
        Map<String, Object> consumerConfig = new HashMap<>(cluster.clientConfig());
        consumerConfig.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(consumerConfig, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(List.of(new TopicPartition(topic, 0)));
            List<ConsumerRecord<byte[], byte[]>> read = new ArrayList<>();
            await().atMost(Duration.ofSeconds(60)).until(() -> {
                consumer.poll(Duration.ofMillis(200)).forEach(read::add);
                return !read.isEmpty();
            });
            assertThat(read.get(0).value()).isEqualTo(value);
        }
    }
}
