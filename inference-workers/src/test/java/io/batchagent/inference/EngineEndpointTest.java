package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import org.junit.jupiter.api.Test;

class EngineEndpointTest {

    @Test
    void shouldMapEngineSchemesToHttpAndKeepTheKind() {
        assertThat(EngineEndpoint.parse("sglang://gpu-1:30000"))
                .isEqualTo(new EngineEndpoint(EngineEndpoint.Kind.SGLANG, URI.create("http://gpu-1:30000")));
        assertThat(EngineEndpoint.parse("vllm://10.0.0.7:8000"))
                .isEqualTo(new EngineEndpoint(EngineEndpoint.Kind.VLLM, URI.create("http://10.0.0.7:8000")));
        assertThat(EngineEndpoint.parse("openai-compatible://localhost:9000").chatCompletionsUrl())
                .isEqualTo("http://localhost:9000/v1/chat/completions");
    }

    @Test
    void shouldAcceptPlainBaseUrlsWithOrWithoutV1() {
        assertThat(EngineEndpoint.parse("https://api.example.com/v1/").chatCompletionsUrl())
                .isEqualTo("https://api.example.com/v1/chat/completions");
        EngineEndpoint proxied = EngineEndpoint.parse("http://proxy:8080/engines/a");
        assertThat(proxied.kind()).isEqualTo(EngineEndpoint.Kind.OPENAI_COMPATIBLE);
        assertThat(proxied.chatCompletionsUrl()).isEqualTo("http://proxy:8080/engines/a/v1/chat/completions");
    }

    @Test
    void shouldRejectOtherFormsNamingTheAcceptedOnes() {
        for (String url : new String[] {"sim://", "dynamo://h:1", "sglang://host", "localhost:8000", "", "http://user:pw@h:1"}) {
            assertThatThrownBy(() -> EngineEndpoint.parse(url))
                    .as(url)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("openai-compatible://host:port, sglang://host:port, vllm://host:port");
        }
    }
}
