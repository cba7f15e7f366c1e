package io.batchagent.bench.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.Test;

class RecordingProxyTest {

    @Test
    void shouldReadFirstTokenUsageAndFinishReasonFromAStreamSplitAnywhere() {
        // Given an event stream cut in the middle of lines
        RecordingProxy.Probe probe = new RecordingProxy.Probe("t", 1_000, "{}".getBytes());
        String stream = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
                + "data: {\"choices\":[{\"delta\":{\"content\":\"{\\\"a\"}}]}\n\n"
                + "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":7,"
                + "\"prompt_tokens_details\":{\"cached_tokens\":100}}}\n\ndata: [DONE]\n\n";
        // When fed in 13-byte pieces, one nanosecond apart
        long now = 2_000;
        for (int i = 0; i < stream.length(); i += 13) {
            probe.onText(stream.substring(i, Math.min(stream.length(), i + 13)), now++);
        }
        ModelCall call = probe.finish(now);
        // Then the empty role delta is not the first token, the content delta is
        assertThat(call.firstTokenNanos())
                .isGreaterThan(2_000
                        + "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}".length() / 13);
        assertThat(call.promptTokens()).isEqualTo(120);
        assertThat(call.cachedTokens()).isEqualTo(100);
        assertThat(call.completionTokens()).isEqualTo(7);
        assertThat(call.prefillTokens()).isEqualTo(20);
        assertThat(call.finishReason()).isEqualTo("stop");
    }

    @Test
    void shouldRecordEachChatCompletionPassingThrough() throws Exception {
        // Given the simulator behind the proxy
        try (EngineSimulator simulator =
                        EngineSimulator.start(SimulatorOptions.builder().build());
                RecordingProxy proxy = RecordingProxy.start(URI.create(simulator.baseUrl()))) {
            proxy.tag("A");
            String body =
                    "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":64,"
                            + "\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"Agent: 7\"}]}";
            // When
            HttpResponse<String> answer = HttpClient.newHttpClient()
                    .send(
                            HttpRequest.newBuilder(URI.create(proxy.baseUrl() + "/v1/chat/completions"))
                                    .header("Content-Type", "application/json")
                                    .POST(HttpRequest.BodyPublishers.ofString(body))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString());
            // Then the caller gets the engine's stream and the proxy its figures
            assertThat(answer.statusCode()).isEqualTo(200);
            assertThat(answer.body()).contains("data: [DONE]");
            List<ModelCall> calls = proxy.drain();
            assertThat(calls).hasSize(1);
            ModelCall call = calls.get(0);
            assertThat(call.tag()).isEqualTo("A");
            assertThat(call.ok()).isTrue();
            assertThat(call.agentKey()).isEqualTo("Agent: 7");
            assertThat(call.turn()).isEqualTo(1);
            assertThat(call.promptTokens()).isPositive();
            assertThat(call.completionTokens()).isPositive();
            assertThat(call.ttftMs()).isNotNaN().isLessThanOrEqualTo(call.latencyMs());
            assertThat(proxy.drain()).isEmpty();
        }
    }
}
