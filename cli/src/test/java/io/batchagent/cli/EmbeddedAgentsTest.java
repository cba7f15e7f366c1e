package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.sdk.EmbeddedRuntime;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;

/** {@code BatchAgent.embedded} finds the CLI module's runtime, so that the SDK module needs no stage. */
class EmbeddedAgentsTest {

    @Test
    void shouldBeTheEmbeddedRuntimeTheSdkFinds() {
        assertThat(ServiceLoader.load(EmbeddedRuntime.class).stream().map(ServiceLoader.Provider::type))
                .containsExactly(EmbeddedAgents.class);
    }
}
