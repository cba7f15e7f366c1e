package io.batchagent.tools.builtin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.tools.ToolContext;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class EchoToolTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ToolContext CONTEXT =
            new ToolContext("hash", "batch", Instant.now().plusSeconds(30));

    @Test
    void shouldReturnItsTextArgument() {
        assertThat(new EchoTool().execute(JSON.createObjectNode().put("text", "ping"), CONTEXT))
                .isEqualTo("ping");
    }

    @Test
    void shouldRefuseAMissingText() {
        assertThatThrownBy(() -> new EchoTool().execute(JSON.createObjectNode().put("text", 3), CONTEXT))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("echo needs a string argument 'text'");
    }
}
