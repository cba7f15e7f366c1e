package io.batchagent.schemas;

import java.util.Map;
import org.apache.kafka.clients.producer.ProducerConfig;

/**
 * The settings every BatchAgent producer outside Kafka Streams shares (the client's submit, the inference,
 * tool and OpenCode workers): idempotent, {@code acks=all}, under the record budget, and one produce
 * request in flight per broker connection unless the deployment's configuration sets another number.
 *
 * <p>Why one request: an idempotent producer with several requests in flight to a partition that was
 * created a moment before can lose records (KAFKA-15591, fixed in the broker from Kafka 4.5). The first
 * request reaches the leader before it has applied the partition's creation and is refused
 * {@code NOT_LEADER_OR_FOLLOWER}; the request behind it arrives after, and the broker, holding no state for
 * the producer, appends it whatever its first sequence number. Every retry of the first request is then
 * refused as out of sequence until {@code delivery.timeout.ms} expires it. {@code batchagent run} creates its
 * topics and submits at once, so its first writes meet exactly that window ({@code FreshTopicDeliveryIT}:
 * 3 and 6 of 20 fresh topics lost records with five requests in flight, none with one). A leader moving to
 * a broker opens the same window. Kafka Streams' producers are set the same way by {@code StreamsSettings},
 * for a related reason under transactions.
 */
public final class ProducerSettings {

    private ProducerSettings() {}

    /**
     * {@code base} under {@code limits} ({@link RecordLimits#producerConfig}), idempotent with
     * {@code acks=all}; {@code max.in.flight.requests.per.connection} is 1 unless {@code base} sets it.
     */
    public static Map<String, Object> durable(Map<String, ?> base, RecordLimits limits) {
        Map<String, Object> config = limits.producerConfig(base);
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        config.putIfAbsent(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1);
        return config;
    }
}
