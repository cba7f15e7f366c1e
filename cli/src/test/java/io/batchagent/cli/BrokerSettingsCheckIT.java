package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.InstanceOfAssertFactories.STRING;

import io.batchagent.kafka.embedded.EmbeddedKafkaBroker;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link BrokerSettingsCheck} against real brokers: one set as recommended, one left at Kafka's default. */
class BrokerSettingsCheckIT {

    @TempDir
    Path dataDir;

    @Test
    void shouldNameABrokerThatRetriesATransactionsFirstWriteLaterThanRecommended() throws Exception {
        // Given: the embedded broker's settings (5 ms), and a broker at Kafka's default (20 ms)
        try (EmbeddedKafkaBroker recommended = EmbeddedKafkaBroker.start(dataDir.resolve("recommended"));
                EmbeddedKafkaBroker kafkaDefault =
                        EmbeddedKafkaBroker.start(EmbeddedKafkaBroker.Options.builder(dataDir.resolve("default"))
                                .brokerProperty(BrokerSettingsCheck.TXN_RETRY_BACKOFF, "20")
                                .build());
                Admin toRecommended = admin(recommended.bootstrapServers());
                Admin toDefault = admin(kafkaDefault.bootstrapServers())) {

            // When
            List<String> none = BrokerSettingsCheck.findings(toRecommended);
            List<String> one = BrokerSettingsCheck.findings(toDefault);

            // Then: only the slow broker is named, with its setting and the advice
            assertThat(none).isEmpty();
            assertThat(one)
                    .singleElement(STRING)
                    .startsWith("broker 1 has add.partitions.to.txn.retry.backoff.ms=20")
                    .contains("5 is recommended");
        }
    }

    @Test
    void shouldNotFailTheStartWhenTheClusterCannotBeAsked() throws Exception {
        // Given: an address where nothing listens
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        try (Admin admin = admin("127.0.0.1:" + port)) {

            // When / Then: the check gives up within the admin's timeout and returns
            assertThatCode(() -> BrokerSettingsCheck.warnAboutSlowSettings(admin))
                    .doesNotThrowAnyException();
        }
    }

    private static Admin admin(String bootstrapServers) {
        return Admin.create(Map.of(
                AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 2_000,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 2_000));
    }
}
