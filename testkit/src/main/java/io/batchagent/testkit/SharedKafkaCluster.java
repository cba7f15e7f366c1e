package io.batchagent.testkit;

import io.batchagent.kafka.embedded.EmbeddedKafkaBroker;
import io.batchagent.schemas.TopicProvisioner;
import io.batchagent.schemas.Topics;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ForwardingAdmin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The broker behind {@link EmbeddedKafkaExtension}: an {@link EmbeddedKafkaBroker} over a temporary
 * directory, with a shared admin client. JUnit closes it as an {@link AutoCloseable} in the root store.
 */
final class SharedKafkaCluster implements KafkaCluster, AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(SharedKafkaCluster.class);
    private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration TOPIC_POLL_INTERVAL = Duration.ofMillis(10);

    private final Path tempDir;
    private final EmbeddedKafkaBroker broker;
    private final Map<String, Object> clientConfig;
    private final UncloseableAdmin admin;

    private SharedKafkaCluster(Path tempDir, EmbeddedKafkaBroker broker) {
        this.tempDir = tempDir;
        this.broker = broker;
        this.clientConfig = Map.of(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
        this.admin = new UncloseableAdmin(clientConfig);
    }

    static SharedKafkaCluster start() {
        Path tempDir;
        try {
            tempDir = Files.createTempDirectory("batchagent-kafka-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a data directory for the embedded Kafka broker", e);
        }
        try {
            return new SharedKafkaCluster(tempDir, EmbeddedKafkaBroker.start(tempDir.resolve("data")));
        } catch (RuntimeException e) {
            deleteRecursively(tempDir);
            throw e;
        }
    }

    @Override
    public String bootstrapServers() {
        return broker.bootstrapServers();
    }

    @Override
    public Map<String, Object> clientConfig() {
        return clientConfig;
    }

    @Override
    public Admin admin() {
        return admin;
    }

    @Override
    public void createTopics(Topics topics, int partitions) {
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be at least 1, was " + partitions);
        }
        // The same provisioning the pipeline uses; then wait until the broker serves the topics.
        TopicProvisioner.ensure(admin, topics, partitions, (short) 1);
        awaitVisible(topics.all().stream().map(Topics.Topic::name).collect(java.util.stream.Collectors.toSet()));
    }

    /**
     * Waits until the broker serves metadata for every topic, with a leader for every partition:
     * the controller acknowledges a creation before the broker has applied it, and a test that
     * lists or describes topics right after must see them.
     */
    private void awaitVisible(Set<String> topics) {
        long deadline = System.nanoTime() + ADMIN_TIMEOUT.toNanos();
        while (true) {
            try {
                Map<String, TopicDescription> descriptions = admin.describeTopics(topics)
                        .allTopicNames()
                        .get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                if (descriptions.values().stream().allMatch(SharedKafkaCluster::hasLeaders)) {
                    return;
                }
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                    throw new IllegalStateException(
                            "cannot describe topics " + topics + ": " + e.getCause(), e.getCause());
                }
            } catch (TimeoutException e) {
                throw new IllegalStateException("topics " + topics + " were not described within " + ADMIN_TIMEOUT, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for topics " + topics, e);
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("topics " + topics + " did not get leaders within " + ADMIN_TIMEOUT);
            }
            pause(TOPIC_POLL_INTERVAL);
        }
    }

    private static boolean hasLeaders(TopicDescription description) {
        return description.partitions().stream()
                .allMatch(partition ->
                        partition.leader() != null && !partition.leader().isEmpty());
    }

    private static void pause(Duration duration) {
        try {
            // The broker offers no notification when it applies metadata: poll, briefly.
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for topic metadata", e);
        }
    }

    /** Closes the admin client and the broker, then deletes the data directory. */
    @Override
    public void close() {
        try {
            admin.reallyClose();
            broker.close();
        } finally {
            deleteRecursively(tempDir);
        }
    }

    @Override
    public String toString() {
        return "SharedKafkaCluster[" + broker.bootstrapServers() + "]";
    }

    private static void deleteRecursively(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder())
                    .forEach(path -> path.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            LOGGER.warn("Could not delete the embedded Kafka data directory {}", dir, e);
        }
    }

    /** The shared admin client: tests may call {@code close()}; only the cluster really closes it. */
    private static final class UncloseableAdmin extends ForwardingAdmin {

        UncloseableAdmin(Map<String, Object> configs) {
            super(configs);
        }

        @Override
        public void close(Duration timeout) {
            // Shared by every test: a test closing it must not break the others.
        }

        void reallyClose() {
            super.close(ADMIN_TIMEOUT);
        }
    }
}
