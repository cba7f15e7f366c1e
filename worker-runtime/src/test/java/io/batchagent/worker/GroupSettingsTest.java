package io.batchagent.worker;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.junit.jupiter.api.Test;

class GroupSettingsTest {

    @Test
    void shouldUseTheConsumerProtocolAndDropTheSettingsOnlyTheClassicOneTakes() {
        Map<String, Object> config = GroupSettings.incrementalRebalancing(Map.of(
                "bootstrap.servers",
                "broker:9092",
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG,
                6000,
                ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG,
                1000));

        assertThat(config)
                .containsEntry(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer")
                .containsEntry("bootstrap.servers", "broker:9092")
                .doesNotContainKeys(
                        ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG,
                        ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG,
                        ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG);
    }

    @Test
    void shouldUseTheCooperativeStickyAssignorOnTheClassicProtocol() {
        Map<String, Object> config = GroupSettings.incrementalRebalancing(Map.of(
                ConsumerConfig.GROUP_PROTOCOL_CONFIG, "CLASSIC", ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 6000));

        assertThat(config)
                .containsEntry(
                        ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName())
                .containsEntry(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 6000);
    }

    @Test
    void shouldKeepTheAssignorAClassicGroupWasGiven() {
        Map<String, Object> config = GroupSettings.incrementalRebalancing(Map.of(
                ConsumerConfig.GROUP_PROTOCOL_CONFIG,
                "classic",
                ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                RoundRobinAssignor.class.getName()));

        assertThat(config)
                .containsEntry(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, RoundRobinAssignor.class.getName());
    }
}
