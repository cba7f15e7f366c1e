package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code batchagent broker} as its own process: it prints a bootstrap address that clients can use,
 * SIGTERM shuts it down cleanly, and a new broker over the same data directory has its topics.
 */
class BrokerCommandIT {

    @TempDir
    Path dataDir;

    /** Starts the broker command in a JVM of its own. */
    private Process startBroker() throws IOException {
        List<String> command = List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx512m",
                "-cp",
                System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                BatchAgentCommand.class.getName(),
                "broker",
                "--data-dir",
                dataDir.toString(),
                "--port",
                "0");
        return new ProcessBuilder(command)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
    }

    /** The broker's first line on stdout: its bootstrap address, printed once it answers. */
    private static String bootstrapAddress(Process broker) throws Exception {
        BufferedReader stdout =
                new BufferedReader(new InputStreamReader(broker.getInputStream(), StandardCharsets.UTF_8));
        return CompletableFuture.supplyAsync(() -> {
                    try {
                        return stdout.readLine();
                    } catch (IOException e) {
                        throw new IllegalStateException(e);
                    }
                })
                .get(3, TimeUnit.MINUTES);
    }

    private static Admin admin(String bootstrap) {
        return Admin.create(Map.of(
                AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrap,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG,
                60_000));
    }

    @Test
    void shouldServeClientsUntilSigtermThenShutDownCleanlyAndKeepItsTopics() throws Exception {
        Process first = startBroker();
        try {
            String bootstrap = bootstrapAddress(first);
            assertThat(bootstrap).matches("127\\.0\\.0\\.1:\\d+");
            try (Admin admin = admin(bootstrap)) {
                assertThat(admin.describeCluster().nodes().get(1, TimeUnit.MINUTES))
                        .hasSize(1);
                admin.createTopics(List.of(new NewTopic("kept", 2, (short) 1)))
                        .all()
                        .get(1, TimeUnit.MINUTES);
            }

            first.destroy(); // SIGTERM
            assertThat(first.waitFor(2, TimeUnit.MINUTES)).isTrue();
        } finally {
            first.destroyForcibly();
        }
        // Kafka marks a log directory whose broker shut down cleanly.
        assertThat(Files.exists(dataDir.resolve("kafka").resolve(".kafka_cleanshutdown")))
                .isTrue();

        Process second = startBroker();
        try (Admin admin = admin(bootstrapAddress(second))) {
            Set<String> topics = admin.listTopics().names().get(1, TimeUnit.MINUTES);
            assertThat(topics).contains("kept");
            assertThat(admin.describeTopics(List.of("kept"))
                            .allTopicNames()
                            .get(1, TimeUnit.MINUTES)
                            .get("kept")
                            .partitions())
                    .hasSize(2);
        } finally {
            second.destroy();
            second.waitFor(2, TimeUnit.MINUTES);
            second.destroyForcibly();
        }
    }
}
