package io.batchagent.tools;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.batchagent.schemas.RecordLimits;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.junit.jupiter.api.Test;

class ToolWorkerConfigTest {

    @Test
    void shouldFillDefaults() {
        ToolWorkerConfig config = ToolWorkerConfig.defaults();

        assertThat(config.groupId()).isEqualTo("batchagent-tools");
        assertThat(config.maxConcurrency()).isEqualTo(64);
        assertThat(config.toolOptions()).isEmpty();
        assertThat(config.cacheMaxEntries()).isEqualTo(10_000L);
        assertThat(config.maxToolThreads()).isEqualTo(128);
        assertThat(config.withMaxConcurrency(8).maxToolThreads())
                .as("follows the concurrency")
                .isEqualTo(16);
        assertThat(config.withMaxConcurrency(8).withMaxToolThreads(9).maxToolThreads())
                .isEqualTo(9);
    }

    @Test
    void shouldRejectInvalidSettingsWithTheReason() {
        assertThatThrownBy(() -> ToolWorkerConfig.defaults().withMaxConcurrency(0))
                .hasMessageContaining("maxConcurrency must be between 1 and 4096");
        assertThatThrownBy(() -> ToolWorkerConfig.defaults().withGroupId(" "))
                .hasMessageContaining("groupId must not be blank");
        assertThatThrownBy(() -> ToolWorkerConfig.defaults().withCacheMaxEntries(-1))
                .hasMessageContaining("cacheMaxEntries");
        assertThatThrownBy(() -> ToolWorkerConfig.defaults().withToolOptions(Map.of("latency", "5")))
                .hasMessageContaining("must be named <tool>.<option>");
        assertThatThrownBy(
                        () -> ToolWorkerConfig.defaults().withMaxConcurrency(8).withMaxToolThreads(7))
                .hasMessageContaining("maxToolThreads must be between maxConcurrency (8) and 8192, got 7");
    }

    @Test
    void shouldCopyToolOptions() {
        Map<String, String> options = new HashMap<>(Map.of("sim_search.latency.ms", "10"));
        ToolWorkerConfig config = ToolWorkerConfig.defaults().withToolOptions(options);

        options.put("sim_search.latency.ms", "999");

        assertThat(config.toolOptions()).containsEntry("sim_search.latency.ms", "10");
    }

    @Test
    void shouldForceWhatTheWorkersGuaranteesNeedAndRoutePrefixedClientSettings() {
        Map<String, Object> kafka = Map.of(
                "bootstrap.servers",
                "broker:9092",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
                true,
                "group.id",
                "someone-else",
                "consumer.max.poll.records",
                50,
                "producer.acks",
                "1",
                "producer.compression.type",
                "zstd");
        ToolWorkerConfig config = ToolWorkerConfig.defaults().withGroupId("tools-a");

        Map<String, Object> consumer = ToolWorker.consumerConfig(kafka, config);
        Map<String, Object> producer = ToolWorker.producerConfig(kafka, RecordLimits.defaults());

        assertThat(consumer)
                .containsEntry("bootstrap.servers", "broker:9092")
                .containsEntry(ConsumerConfig.GROUP_ID_CONFIG, "tools-a")
                .containsEntry(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false)
                .containsEntry(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed")
                .containsEntry(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest")
                .containsEntry("max.poll.records", 50)
                .doesNotContainKeys("compression.type", "producer.acks", "consumer.max.poll.records");
        assertThat(producer)
                .containsEntry("bootstrap.servers", "broker:9092")
                .containsEntry(ProducerConfig.ACKS_CONFIG, "all")
                .containsEntry(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true)
                .containsEntry("compression.type", "zstd")
                .containsEntry(ProducerConfig.LINGER_MS_CONFIG, 1)
                .containsEntry(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1)
                .doesNotContainKeys("max.poll.records");
    }
}
