package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class InferenceWorkerConfigTest {

    @Test
    void shouldFillDefaults() {
        InferenceWorkerConfig config = InferenceWorkerConfig.defaults();

        assertThat(config.groupId()).isEqualTo("batchagent-inference");
        assertThat(config.maxInflight()).isEqualTo(32);
        assertThat(config.engineTimeout()).isEqualTo(Duration.ofMinutes(10));
        assertThat(config.specWaitTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(config.maxAttempts()).isEqualTo(3);
        assertThat(config.engineApiKey()).isNull();
    }

    @Test
    void shouldRejectOutOfRangeValues() {
        assertThatThrownBy(() -> InferenceWorkerConfig.defaults().withMaxInflight(0))
                .hasMessage("maxInflight must be at least 1, got 0");
        assertThatThrownBy(() -> InferenceWorkerConfig.defaults().withEngineTimeout(Duration.ZERO))
                .hasMessage("engineTimeout must be positive, got PT0S");
        assertThatThrownBy(() -> InferenceWorkerConfig.defaults().withSpecWaitTimeout(Duration.ofSeconds(-1)))
                .hasMessage("specWaitTimeout must be positive, got PT-1S");
        assertThatThrownBy(() -> InferenceWorkerConfig.defaults().withMaxRetries(-1))
                .hasMessage("maxRetries must be at least 0, got -1");
    }

    @Test
    void shouldNeverShowTheApiKey() {
        InferenceWorkerConfig config = InferenceWorkerConfig.defaults().withEngineApiKey("sk-secret-42");

        assertThat(config.toString()).doesNotContain("sk-secret-42").contains("engineApiKey=****");
        assertThat(config.engineApiKey()).isEqualTo("sk-secret-42");
    }
}
