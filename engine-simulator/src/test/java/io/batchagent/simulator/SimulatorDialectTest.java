package io.batchagent.simulator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Where the simulator imitates SGLang and vLLM differently: priority polarity, validation, cache report, metrics. */
class SimulatorDialectTest {

    private EngineSimulator simulator;
    private SimulatorHttpClient http;

    @AfterEach
    void stop() {
        if (simulator != null) {
            simulator.close();
        }
    }

    /** One request at a time, 100 ms per decode step: the first admitted finishes long before the second. */
    private static final EngineProfile ONE_AT_A_TIME =
            new EngineProfile("one-at-a-time", 1e12, 100, 0, 1_000_000, 1_000_000, 1);

    private void start(SimulatorOptions.Builder options) {
        simulator = EngineSimulator.start(options.build());
        http = new SimulatorHttpClient(simulator.baseUrl());
    }

    private static String request(String user, String extra) {
        return "{\"model\":\"sim-model\",\"messages\":[{\"role\":\"user\",\"content\":\"" + user + "\"}],"
                + "\"max_tokens\":4" + extra + "}";
    }

    @Test
    void shouldRejectStreamOptionsWithoutStreamInTheVllmDialect() {
        start(SimulatorOptions.builder().dialect(SimulatorDialect.VLLM));

        HttpResponse<String> response = http.post(
                "/v1/chat/completions", request("hi", ",\"stream\":false,\"stream_options\":{\"include_usage\":true}"));

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(response.body()).contains("Stream options can only be defined when `stream=True`.");
    }

    @Test
    void shouldIgnoreStreamOptionsWithoutStreamInTheSglangDialect() {
        start(SimulatorOptions.builder().dialect(SimulatorDialect.SGLANG));

        JsonNode answer = http.chat(request("hi", ",\"stream\":false,\"stream_options\":{\"include_usage\":true}"));

        assertThat(answer.path("choices").path(0).path("finish_reason").asText())
                .isNotEmpty();
    }

    @Test
    void shouldRejectANonZeroPriorityInTheVllmDialectWithoutPriorityScheduling() {
        start(SimulatorOptions.builder().dialect(SimulatorDialect.VLLM).priorityScheduling(false));

        HttpResponse<String> rejected = http.post("/v1/chat/completions", request("hi", ",\"priority\":1"));
        HttpResponse<String> zero = http.post("/v1/chat/completions", request("hi", ",\"priority\":0"));

        assertThat(rejected.statusCode()).isEqualTo(400);
        assertThat(rejected.body()).contains("Priority scheduling is not enabled");
        assertThat(zero.statusCode()).isEqualTo(200);
    }

    @Test
    void shouldRunLowerPrioritiesFirstInTheVllmDialectAndHigherFirstInTheSglangDialect() {
        assertThat(finishOrder(SimulatorDialect.VLLM)).containsExactly("low", "high");
        stop();
        assertThat(finishOrder(SimulatorDialect.SGLANG)).containsExactly("high", "low");
    }

    /** Queues "high" (priority 5) then "low" (priority -5) while scheduling is paused; returns the order answered. */
    private List<String> finishOrder(SimulatorDialect dialect) {
        start(SimulatorOptions.builder().dialect(dialect).profile(ONE_AT_A_TIME));
        simulator.pauseScheduling();
        List<String> order = new CopyOnWriteArrayList<>();
        CompletableFuture<?> high = http.postAsync("/v1/chat/completions", request("high", ",\"priority\":5"))
                .thenAccept(r -> order.add("high"));
        await().atMost(Duration.ofSeconds(10)).until(() -> simulator.stats().waiting() == 1);
        CompletableFuture<?> low = http.postAsync("/v1/chat/completions", request("low", ",\"priority\":-5"))
                .thenAccept(r -> order.add("low"));
        await().atMost(Duration.ofSeconds(10)).until(() -> simulator.stats().waiting() == 2);
        simulator.resumeScheduling();
        CompletableFuture.allOf(high, low).join();
        return order;
    }

    @Test
    void shouldSendNullPromptTokenDetailsWithoutTheCacheReport() {
        start(SimulatorOptions.builder().cacheReport(false));

        JsonNode answer = http.chat(request("hi", ""));

        assertThat(answer.path("usage").path("prompt_tokens").asInt()).isPositive();
        assertThat(answer.path("usage").has("prompt_tokens_details")).isTrue();
        assertThat(answer.path("usage").get("prompt_tokens_details").isNull()).isTrue();
    }

    @Test
    void shouldAcceptDynamosNvextAndIgnoreIt() {
        start(SimulatorOptions.builder());

        JsonNode answer = http.chat(
                request("hi", ",\"nvext\":{\"agent_hints\":{\"priority\":1,\"osl\":64,\"speculative_prefill\":true}}"));

        assertThat(answer.path("choices")
                        .path(0)
                        .path("message")
                        .path("content")
                        .asText())
                .isNotEmpty();
    }

    @Test
    void shouldExposeTheSameCountersUnderSglangAndVllmNames() {
        start(SimulatorOptions.builder().modelName("m"));
        http.chat(request("a shared question", ""));
        http.chat(request("a shared question", ""));
        SimulatorStats stats = simulator.stats();

        String metrics = http.get("/metrics").body();

        assertThat(stats.cachedTokens()).isPositive();
        assertThat(metrics)
                .contains("sglang:prompt_tokens_total{model_name=\"m\"} " + stats.promptTokens() + "\n")
                .contains("sglang:cached_tokens_total{model_name=\"m\"} " + stats.cachedTokens() + "\n")
                .contains("# TYPE sglang:cache_hit_rate gauge")
                .contains("vllm:prefix_cache_queries_total{model_name=\"m\"} " + stats.promptTokens() + "\n")
                .contains("vllm:prefix_cache_hits_total{model_name=\"m\"} " + stats.cachedTokens() + "\n")
                .contains("sim:cached_tokens_total{model_name=\"m\"} " + stats.cachedTokens() + "\n");
    }
}
