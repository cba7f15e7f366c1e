package io.batchagent.sdk;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The SDK on its own, without the CLI module: {@code embedded} says what it needs and what to use instead. */
class BatchAgentTest {

    @Test
    void shouldNameTheMissingModuleWhenEmbeddedRunsWithoutTheCli() {
        assertThatThrownBy(() -> BatchAgent.embedded(Path.of("data")))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("io.batchagent:batchagent-cli")
                .hasMessageContaining("BatchAgent.connect");
    }
}
