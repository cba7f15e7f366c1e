package io.batchagent.connectors;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Creates the Iceberg sink's control topic, which the sink needs before it starts and does not create itself:
 * one partition (the sink's coordinator reads it whole), delete cleanup (its records are commit rounds, not
 * state). {@code main} is what {@code connectors/sink} runs: {@code --bootstrap-servers HOST:PORT --topic NAME}.
 */
public final class ControlTopic {

    private ControlTopic() {}

    /** Creates {@code topic}, or leaves it as it is when it exists; replication factor 1 on a single-node cluster. */
    public static void create(Admin admin, String topic) throws InterruptedException {
        int brokers;
        try {
            brokers = admin.describeCluster().nodes().get(30, TimeUnit.SECONDS).size();
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) Math.min(3, brokers))
                            .configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_DELETE))))
                    .all()
                    .get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new IllegalStateException(
                        "cannot create the Iceberg control topic " + topic + ": " + e.getCause(), e);
            }
        } catch (TimeoutException e) {
            throw new IllegalStateException("the cluster did not answer within 30 s while creating " + topic, e);
        }
    }

    public static void main(String[] args) throws InterruptedException {
        String bootstrapServers = null;
        String topic = null;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--bootstrap-servers" -> bootstrapServers = args[i + 1];
                case "--topic" -> topic = args[i + 1];
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (bootstrapServers == null || topic == null) {
            throw new IllegalArgumentException("usage: ControlTopic --bootstrap-servers HOST:PORT --topic NAME");
        }
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers))) {
            create(admin, topic);
        }
    }
}
