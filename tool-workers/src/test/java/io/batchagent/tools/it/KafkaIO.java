package io.batchagent.tools.it;

import static org.awaitility.Awaitility.await;

import io.batchagent.schemas.ProducerSettings;
import io.batchagent.schemas.RecordLimits;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;

/** Producing to and reading from the catalogue's topics in tests. */
public final class KafkaIO {

    private KafkaIO() {}

    /** Sends {@code values} keyed as given and waits until the broker has them all. */
    public static <V> void send(Map<String, Object> kafkaConfig, Topics.Topic<String, V> topic, Map<String, V> values) {
        sendAll(
                kafkaConfig,
                topic,
                values.entrySet().stream()
                        .map(e -> Map.entry(e.getKey(), e.getValue()))
                        .toList());
    }

    public static <V> void sendAll(
            Map<String, Object> kafkaConfig, Topics.Topic<String, V> topic, Collection<Map.Entry<String, V>> records) {
        // One request in flight, as the product's producers: the topics were created a moment before (KAFKA-15591).
        Map<String, Object> props = ProducerSettings.durable(kafkaConfig, RecordLimits.defaults());
        props.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        try (KafkaProducer<String, V> producer = new KafkaProducer<>(
                props, new StringSerializer(), topic.valueSerde().serializer())) {
            List<java.util.concurrent.Future<?>> sent = new ArrayList<>();
            for (Map.Entry<String, V> record : records) {
                sent.add(producer.send(new ProducerRecord<>(topic.name(), record.getKey(), record.getValue())));
            }
            for (java.util.concurrent.Future<?> future : sent) {
                future.get(30, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("could not send to " + topic.name(), e);
        }
    }

    /** Follows a topic from its beginning (committed records only), collecting its values in order of arrival. */
    public static final class Reader<V> implements AutoCloseable {
        private final KafkaConsumer<String, V> consumer;
        private final List<V> values = new ArrayList<>();

        public Reader(Map<String, Object> kafkaConfig, Topics.Topic<String, V> topic) {
            Map<String, Object> props = new HashMap<>(kafkaConfig);
            props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            this.consumer = new KafkaConsumer<>(
                    props, topic.keySerde().deserializer(), topic.valueSerde().deserializer());
            List<TopicPartition> partitions = consumer.partitionsFor(topic.name(), Duration.ofSeconds(10)).stream()
                    .map(p -> new TopicPartition(topic.name(), p.partition()))
                    .toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
        }

        /** Everything read so far, after one more poll. */
        public synchronized List<V> values() {
            consumer.poll(Duration.ofMillis(50)).forEach(record -> values.add(record.value()));
            return List.copyOf(values);
        }

        /** Waits until at least {@code count} values were read; returns them all. */
        public List<V> await(int count, Duration timeout) {
            org.awaitility.Awaitility.await()
                    .atMost(timeout)
                    .pollInterval(Duration.ofMillis(20))
                    .until(() -> values().size() >= count);
            return values();
        }

        @Override
        public synchronized void close() {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    /** Waits until the consumer group has {@code members} members, each with partitions assigned. */
    public static void awaitGroupMembers(Admin admin, String groupId, int members, Duration timeout) {
        await().atMost(timeout).pollInterval(Duration.ofMillis(100)).until(() -> {
            ConsumerGroupDescription group =
                    admin.describeConsumerGroups(List.of(groupId)).all().get().get(groupId);
            return group != null
                    && group.members().size() == members
                    && group.members().stream()
                            .allMatch(m -> !m.assignment().topicPartitions().isEmpty());
        });
    }
}
