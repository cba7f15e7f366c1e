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
    void shouldParseDynamoAndTheHostedApis() {
        assertThat(EngineEndpoint.parse("dynamo://frontend:8000"))
                .isEqualTo(new EngineEndpoint(EngineEndpoint.Kind.DYNAMO, URI.create("http://frontend:8000")));
        assertThat(EngineEndpoint.parse("openai://"))
                .isEqualTo(new EngineEndpoint(EngineEndpoint.Kind.OPENAI, URI.create("https://api.openai.com")));
        assertThat(EngineEndpoint.parse("anthropic://"))
                .isEqualTo(new EngineEndpoint(EngineEndpoint.Kind.ANTHROPIC, URI.create("https://api.anthropic.com")));
        EngineEndpoint bedrock = EngineEndpoint.parse("bedrock://eu-west-3");
        assertThat(bedrock.kind()).isEqualTo(EngineEndpoint.Kind.BEDROCK);
        assertThat(bedrock.region()).isEqualTo("eu-west-3");
        assertThat(bedrock.baseUri()).isEqualTo(URI.create("https://bedrock-runtime.eu-west-3.amazonaws.com"));
        assertThat(EngineEndpoint.parse("anthropic://")
                        .withBaseUri(URI.create("http://127.0.0.1:9/"))
                        .baseUri())
                .isEqualTo(URI.create("http://127.0.0.1:9"));
        assertThat(EngineEndpoint.parse("bedrock://us-east-1")
                        .withBaseUri(URI.create("http://127.0.0.1:9"))
                        .region())
                .isEqualTo("us-east-1");
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
        for (String url : new String[] {
            "sim://",
            "ollama://h:1",
            "sglang://host",
            "localhost:8000",
            "",
            "http://user:pw@h:1",
            "bedrock://",
            "bedrock://not-a-region",
            "openai://api.example.com",
            "vllm://h:8000/v1"
        }) {
            assertThatThrownBy(() -> EngineEndpoint.parse(url))
                    .as(url)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("sglang://host:port, vllm://host:port, dynamo://host:port, "
                            + "openai-compatible://host:port, openai://, anthropic://, bedrock://region");
        }
    }
}
