package io.batchagent.cli;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.config.ConfigResource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The broker settings that the exactly-once stages' latency rests on, read from the cluster a process starts
 * against. Advice, not a requirement: a cluster set otherwise works, only slower, so a finding is a warning,
 * and a cluster that does not let this principal read its configuration (no {@code DESCRIBE_CONFIGS} on the
 * cluster) is left unchecked with a line at INFO. The embedded broker and deploy/'s brokers are set as
 * recommended (docs/latency.md, "A transaction's first write after a commit").
 */
final class BrokerSettingsCheck {

    private static final Logger LOGGER = LoggerFactory.getLogger(BrokerSettingsCheck.class);

    /** How long a partition leader waits before asking the transaction coordinator again (Kafka 4.0+). */
    static final String TXN_RETRY_BACKOFF = "add.partitions.to.txn.retry.backoff.ms";
    /** What the embedded broker and deploy/ set; Kafka's default is 20. */
    static final long RECOMMENDED_TXN_RETRY_BACKOFF_MS = 5;

    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private BrokerSettingsCheck() {}

    /**
     * One line per broker whose settings cost the exactly-once hops latency, in broker id order; empty when
     * every broker is set as recommended. A broker without the setting (before Kafka 4.0, which has no such
     * retry) has nothing to report.
     */
    static List<String> findings(Admin admin) throws ExecutionException, InterruptedException, TimeoutException {
        Collection<Node> nodes = admin.describeCluster().nodes().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        List<ConfigResource> brokers = nodes.stream()
                .sorted(Comparator.comparingInt(Node::id))
                .map(node -> new ConfigResource(ConfigResource.Type.BROKER, node.idString()))
                .toList();
        var configs = admin.describeConfigs(brokers).all().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        List<String> findings = new ArrayList<>();
        for (ConfigResource broker : brokers) {
            Config config = configs.get(broker);
            ConfigEntry entry = config == null ? null : config.get(TXN_RETRY_BACKOFF);
            if (entry == null || entry.value() == null) {
                continue;
            }
            long backoffMs = Long.parseLong(entry.value().trim());
            if (backoffMs > RECOMMENDED_TXN_RETRY_BACKOFF_MS) {
                findings.add("broker " + broker.name() + " has " + TXN_RETRY_BACKOFF + "=" + backoffMs
                        + (entry.source() == ConfigEntry.ConfigSource.DEFAULT_CONFIG ? " (Kafka's default)" : "")
                        + ": an exactly-once stage's write right after its commit can wait that long for the "
                        + "previous transaction's markers; " + RECOMMENDED_TXN_RETRY_BACKOFF_MS
                        + " is recommended (set it in the brokers' configuration; docs/latency.md)");
            }
        }
        return findings;
    }

    /** Logs {@link #findings} as warnings; never fails the start. */
    static void warnAboutSlowSettings(Admin admin) {
        try {
            findings(admin).forEach(LOGGER::warn);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            LOGGER.info("broker settings not checked (cannot read the brokers' configuration): {}", e.toString());
        }
    }
}
