package io.batchagent.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.junit.jupiter.api.Test;

class ProducerSettingsTest {

    @Test
    void shouldKeepOneRequestInFlightIdempotentAndUnderTheBudget() {
        Map<String, Object> config = ProducerSettings.durable(
                Map.of("bootstrap.servers", "broker:9092", ProducerConfig.ACKS_CONFIG, "1"), new RecordLimits(100_000));

        assertThat(config)
                .containsEntry("bootstrap.servers", "broker:9092")
                .containsEntry(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true)
                .containsEntry(ProducerConfig.ACKS_CONFIG, "all")
                .containsEntry(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1)
                .containsEntry(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 100_000)
                .containsEntry(ProducerConfig.COMPRESSION_TYPE_CONFIG, RecordLimits.COMPRESSION_TYPE);
    }

    @Test
    void shouldLeaveTheRequestsInFlightToADeploymentThatSetsThem() {
        Map<String, Object> config = ProducerSettings.durable(
                Map.of(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5"), RecordLimits.defaults());

        assertThat(config).containsEntry(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5");
    }
}
