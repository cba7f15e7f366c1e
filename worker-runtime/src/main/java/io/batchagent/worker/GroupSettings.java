package io.batchagent.worker;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The consumer group settings of the workers' consumers: a rebalance revokes only the partitions that
 * move to another member, so the turns in flight on the others are neither stopped nor run twice.
 *
 * <p>By default that is KIP-848's consumer group protocol ({@code group.protocol=consumer}, GA since
 * Kafka 4.0): the broker computes assignments and revokes incrementally, with no group-wide barrier.
 * Under it, session timeout and heartbeat interval are the broker's
 * ({@code group.consumer.session.timeout.ms}, {@code group.consumer.heartbeat.interval.ms}) and the
 * assignor is the broker's; the client settings of the classic protocol are refused by the consumer,
 * so they are removed here (the same settings map usually also configures Kafka Streams, which keeps
 * the classic protocol). A deployment whose brokers predate KIP-848 sets {@code group.protocol=classic}
 * and gets the cooperative-sticky assignor, which also revokes only what moves.
 */
public final class GroupSettings {

    private static final Logger LOGGER = LoggerFactory.getLogger(GroupSettings.class);

    /** Settings of the classic protocol that a consumer on the KIP-848 protocol refuses. */
    static final List<String> CLASSIC_ONLY = List.of(
            ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG,
            ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG,
            ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG);

    private GroupSettings() {}

    /**
     * Returns a copy of {@code consumerConfig} with incremental rebalancing: {@code group.protocol=consumer}
     * unless another protocol is set (and then without the classic-only settings), or, when
     * {@code group.protocol=classic} is set, the cooperative-sticky assignor unless another assignor is set.
     */
    public static Map<String, Object> incrementalRebalancing(Map<String, Object> consumerConfig) {
        Map<String, Object> config = new HashMap<>(consumerConfig);
        Object protocol = config.get(ConsumerConfig.GROUP_PROTOCOL_CONFIG);
        boolean classic = protocol != null && protocol.toString().trim().equalsIgnoreCase("classic");
        if (classic) {
            config.putIfAbsent(
                    ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
            return config;
        }
        config.putIfAbsent(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        List<String> dropped = CLASSIC_ONLY.stream().filter(config::containsKey).toList();
        if (!dropped.isEmpty()) {
            dropped.forEach(config::remove);
            LOGGER.info(
                    "consumer group protocol is KIP-848 'consumer': ignoring classic-protocol settings {} "
                            + "(the broker's group.consumer.* settings apply)",
                    dropped);
        }
        return config;
    }
}
