package io.batchagent.cli;

import io.batchagent.client.ClusterSettings;
import java.util.HashMap;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * Where the client commands ({@code submit}, {@code results}, {@code status}, {@code cancel}) find a
 * deployment: the same cluster, topic prefix and registry its workers were started with. A mixin.
 */
final class ClusterOptions {

    @Option(
            names = "--bootstrap-servers",
            required = true,
            paramLabel = "HOST:PORT[,...]",
            description = "The Kafka cluster the workers run against.")
    String bootstrapServers;

    @Option(
            names = "--topic-prefix",
            defaultValue = "",
            paramLabel = "PREFIX",
            description = "Prefix of every topic name, as the workers use it.")
    String topicPrefix = "";

    @Option(
            names = "--schema-registry-url",
            paramLabel = "URL",
            description =
                    "Confluent-compatible Schema Registry, as the workers use it (default: embedded fingerprint ids).")
    String schemaRegistryUrl;

    @Option(
            names = "--kafka",
            paramLabel = "KEY=VALUE",
            description = "Extra Kafka client setting, e.g. security.protocol=SSL.")
    Map<String, String> properties = new HashMap<>();

    ClusterSettings settings() {
        return ClusterSettings.of(bootstrapServers)
                .withTopicPrefix(topicPrefix)
                .withSchemaRegistryUrl(schemaRegistryUrl)
                .withKafkaProperties(properties);
    }
}
