package io.batchagent.testkit;

import io.batchagent.schemas.ProducerSettings;
import io.batchagent.schemas.RecordLimits;
import io.batchagent.schemas.Topics;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;

/**
 * A running Kafka cluster that a test may use, as injected by {@link EmbeddedKafkaExtension}.
 *
 * <p>The cluster is shared by every test in the JVM, so a test must own its topics, group ids and
 * application ids: derive them with {@link TestNames}. Implementations are thread-safe.
 */
public interface KafkaCluster {

    /** The {@code bootstrap.servers} value for clients of this cluster. */
    String bootstrapServers();

    /**
     * The configuration every client of this cluster needs ({@code bootstrap.servers}); an
     * immutable map to copy and extend with the client's own settings.
     */
    Map<String, Object> clientConfig();

    /**
     * {@link #clientConfig()} as the product's producers have it ({@link ProducerSettings#durable}: idempotent,
     * acks=all, one request in flight), for a test's own producer: with Kafka's five in flight, a test writing to a
     * topic created a moment before can lose records (KAFKA-15591). A new mutable map.
     */
    default Map<String, Object> producerConfig() {
        return ProducerSettings.durable(clientConfig(), RecordLimits.defaults());
    }

    /**
     * An admin client shared by all tests. Closing it has no effect: the cluster closes it when it
     * shuts down.
     */
    Admin admin();

    /**
     * Creates every topic of the catalogue with {@code partitions} partitions and replication
     * factor 1; compacted topics get {@code cleanup.policy=compact}. Idempotent: topics that exist
     * already are left as they are (even if their settings differ). Returns once the broker serves
     * metadata for every topic, with a leader for each partition, so that clients see the topics at
     * once.
     *
     * @throws IllegalStateException if a topic cannot be created or the cluster does not answer in time
     */
    void createTopics(Topics topics, int partitions);
}
