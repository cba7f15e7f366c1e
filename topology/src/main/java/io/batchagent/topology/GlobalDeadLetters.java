package io.batchagent.topology;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the dead letter of a record the global stream thread could not decode.
 *
 * <p>The global thread has no record collector to hand KIP-1034 dead-letter records to, so each letter
 * goes through a short-lived producer built from the stage's own client settings (bootstrap servers,
 * security). Undecodable global records are rare (a bad {@code batch-specs} record), so a producer per
 * letter costs nothing that matters and leaves no client behind when the stage stops. Every stage with
 * the global table reads the record, so each writes its own letter, named by its processor node.
 */
final class GlobalDeadLetters {

    private static final Logger LOGGER = LoggerFactory.getLogger(GlobalDeadLetters.class);

    private final Map<String, Object> producerConfigs;

    GlobalDeadLetters(Map<String, ?> streamsConfigs) {
        Map<String, Object> configs = new HashMap<>();
        if (streamsConfigs.containsKey(StreamsConfig.APPLICATION_ID_CONFIG)
                && streamsConfigs.containsKey(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG)) {
            configs.putAll(new StreamsConfig(streamsConfigs)
                    .getProducerConfigs(
                            streamsConfigs.get(StreamsConfig.APPLICATION_ID_CONFIG) + "-global-dead-letters"));
            configs.remove(ProducerConfig.TRANSACTIONAL_ID_CONFIG);
            configs.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
            configs.put(ProducerConfig.ACKS_CONFIG, "all");
        }
        this.producerConfigs = configs;
    }

    /** Whether the failed record was read by the global stream thread (its task id is Kafka Streams' global -1_-1). */
    static boolean isGlobal(ErrorHandlerContext context) {
        return context.taskId() != null && context.taskId().subtopology() < 0;
    }

    /** Sends {@code letter} and waits for it; a letter that cannot be written is logged, never thrown. */
    void send(ProducerRecord<byte[], byte[]> letter) {
        if (producerConfigs.isEmpty()) {
            LOGGER.error(
                    "no client settings to write a global dead letter; record at {} is only logged", letter.topic());
            return;
        }
        try (KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(producerConfigs, new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.send(letter).get(); // bounded by the producer's delivery.timeout.ms
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            LOGGER.error("interrupted while writing a global dead letter to {}", letter.topic(), e);
        } catch (ExecutionException | RuntimeException e) {
            LOGGER.error(
                    "could not write a global dead letter to {}; the undecodable record is skipped and only logged",
                    letter.topic(),
                    e);
        }
    }
}
