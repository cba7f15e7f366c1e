package io.batchagent.client;

import io.batchagent.schemas.Topics;
import io.batchagent.schemas.serde.EventSerdes;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Where a client finds a BatchAgent deployment: the Kafka cluster its workers run against, the topic
 * prefix they use, the Schema Registry their records are written with, and any other Kafka client
 * setting (security, for example). A client started with these runs no stage.
 *
 * @param bootstrapServers the cluster, {@code host:port[,...]}
 * @param topicPrefix the prefix of every topic name the workers use (may be empty)
 * @param schemaRegistryUrl a Confluent-compatible Schema Registry, or null for the registry-free
 *     fingerprint ids the workers use when they are given none
 * @param kafkaProperties extra Kafka client settings, e.g. {@code security.protocol}; secrets here are
 *     passed to Kafka only, never logged
 * @param timeout how long {@code BatchAgent.run} and {@code results} wait for a batch
 */
public record ClusterSettings(
        String bootstrapServers,
        String topicPrefix,
        String schemaRegistryUrl,
        Map<String, String> kafkaProperties,
        Duration timeout) {

    public ClusterSettings {
        if (bootstrapServers == null || bootstrapServers.isBlank()) {
            throw new IllegalArgumentException("bootstrap servers are required, e.g. localhost:9092");
        }
        topicPrefix = topicPrefix == null ? "" : topicPrefix;
        kafkaProperties = kafkaProperties == null ? Map.of() : Map.copyOf(kafkaProperties);
        timeout = timeout == null ? Duration.ofHours(24) : timeout;
    }

    /** The cluster at {@code bootstrapServers}, no prefix, no registry, a 24 h timeout. */
    public static ClusterSettings of(String bootstrapServers) {
        return new ClusterSettings(bootstrapServers, "", null, Map.of(), null);
    }

    public ClusterSettings withTopicPrefix(String prefix) {
        return new ClusterSettings(bootstrapServers, prefix, schemaRegistryUrl, kafkaProperties, timeout);
    }

    public ClusterSettings withSchemaRegistryUrl(String url) {
        return new ClusterSettings(bootstrapServers, topicPrefix, url, kafkaProperties, timeout);
    }

    public ClusterSettings withKafkaProperties(Map<String, String> properties) {
        return new ClusterSettings(bootstrapServers, topicPrefix, schemaRegistryUrl, properties, timeout);
    }

    public ClusterSettings withTimeout(Duration value) {
        return new ClusterSettings(bootstrapServers, topicPrefix, schemaRegistryUrl, kafkaProperties, value);
    }

    /** The Kafka client settings: the extra properties with {@code bootstrap.servers}. */
    public Map<String, Object> kafkaConfig() {
        Map<String, Object> config = new HashMap<>(kafkaProperties);
        config.put("bootstrap.servers", bootstrapServers);
        return config;
    }

    /** The topic catalogue the workers use, with their value serde (registry or fingerprint ids). */
    public Topics topics() {
        return Topics.create(
                topicPrefix,
                schemaRegistryUrl == null
                        ? Map.of()
                        : Map.of(EventSerdes.SCHEMA_REGISTRY_URL_CONFIG, schemaRegistryUrl));
    }

    /** A client for this cluster. */
    public BatchClient client() {
        return new BatchClient(kafkaConfig(), topics());
    }

    /** Hides the Kafka properties' values, which may hold credentials. */
    @Override
    public String toString() {
        return "ClusterSettings[bootstrapServers=" + bootstrapServers + ", topicPrefix=" + topicPrefix
                + ", schemaRegistryUrl=" + Objects.requireNonNullElse(schemaRegistryUrl, "none")
                + ", kafkaProperties=" + kafkaProperties.keySet() + ", timeout=" + timeout + "]";
    }
}
