package io.batchagent.simulator;

import static io.batchagent.simulator.SchemaAssertions.assertValid;
import static io.batchagent.simulator.SimulatorHttpClient.json;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class EngineSimulatorHttpTest {

    private static final String SCHEMA = "{\"type\":\"object\",\"properties\":{"
            + "\"paper_id\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},\"topic\":{\"type\":\"string\"},"
            + "\"contribution\":{\"type\":\"string\",\"minLength\":10},"
            + "\"relevance\":{\"type\":\"string\",\"enum\":[\"high\",\"medium\",\"low\"]},"
            + "\"turns\":{\"type\":\"integer\",\"minimum\":1},"
            + "\"sources_used\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"
            + "\"required\":[\"paper_id\",\"title\",\"topic\",\"contribution\",\"relevance\",\"turns\",\"sources_used\"],"
            + "\"additionalProperties\":false}";
    private static final String SYSTEM = "You are a systems research analyst benchmarking multi-turn agents. "
            + "Final answers must be JSON matching the requested schema. " + "filler ".repeat(600)
            + "\n\nYour final answer must be one JSON object that is valid against this JSON Schema:\n```json\n"
            + SCHEMA + "\n```";
    private static final String WEB_SEARCH = "{\"type\":\"function\",\"function\":{\"name\":\"web_search\","
            + "\"description\":\"Search the web.\",\"parameters\":{\"type\":\"object\",\"properties\":{"
            + "\"query\":{\"type\":\"string\"},\"num_results\":{\"type\":\"integer\",\"default\":5}},"
            + "\"required\":[\"query\",\"num_results\"]}}}";

    private EngineSimulator simulator;
    private SimulatorHttpClient http;

    @AfterEach
    void stop() {
        if (simulator != null) {
            simulator.close();
        }
    }

    private void start(SimulatorOptions.Builder options) {
        simulator = EngineSimulator.start(options.build());
        http = new SimulatorHttpClient(simulator.baseUrl());
    }

    private void start() {
        start(SimulatorOptions.builder());
    }

    private static String userMessage(String paperId, String title, String topic) {
        return "Paper ID: " + paperId + "\nTitle: " + title + "\nTopic: " + topic
                + "\n\nTask: use web_search for recent context on the paper's topic, then produce a compact research "
                + "summary with contribution and relevance.";
    }

    private static ObjectNode chatRequest(String system, String user) {
        ObjectNode request = Json.NODES.objectNode();
        request.put("model", "sim-model");
        ArrayNode messages = request.putArray("messages");
        if (system != null) {
            messages.addObject().put("role", "system").put("content", system);
        }
        messages.addObject().put("role", "user").put("content", user);
        return request;
    }

    private static ObjectNode withTools(ObjectNode request) {
        request.putArray("tools").add(json(WEB_SEARCH));
        return request;
    }

    private static ObjectNode streamed(ObjectNode request, boolean includeUsage) {
        request.put("stream", true);
        if (includeUsage) {
            request.putObject("stream_options").put("include_usage", true);
        }
        return request;
    }

    private static String body(ObjectNode request) {
        return Json.write(request);
    }

    @Test
    void shouldAnswerANonStreamedRequestInTheOpenAiFormat() {
        start();

        JsonNode response = http.chat(body(chatRequest(null, "Hello there")));

        assertThat(response.get("id").asText()).startsWith("chatcmpl-");
        assertThat(response.get("object").asText()).isEqualTo("chat.completion");
        assertThat(response.get("created").asLong()).isPositive();
        assertThat(response.get("model").asText()).isEqualTo("sim-model");
        assertThat(response.get("choices")).hasSize(1);
        JsonNode choice = response.get("choices").get(0);
        assertThat(choice.get("index").asInt()).isZero();
        assertThat(choice.get("finish_reason").asText()).isEqualTo("stop");
        assertThat(choice.get("message").get("role").asText()).isEqualTo("assistant");
        assertThat(choice.get("message").has("tool_calls")).isFalse();
        String content = choice.get("message").get("content").asText();
        assertThat(json(content).get("answer").asText()).isEqualTo("simulated answer for: Hello there");
        JsonNode usage = response.get("usage");
        assertThat(usage.get("prompt_tokens").asInt()).isPositive();
        assertThat(usage.get("completion_tokens").asInt()).isEqualTo(Tokenizer.count(content));
        assertThat(usage.get("total_tokens").asInt())
                .isEqualTo(usage.get("prompt_tokens").asInt()
                        + usage.get("completion_tokens").asInt());
        assertThat(usage.get("prompt_tokens_details").get("cached_tokens").asInt())
                .isZero();
    }

    @Test
    void shouldStreamRoleThenContentDeltasThenFinishReasonThenDone() {
        start();
        String user = userMessage("1706.03762", "Attention Is All You Need", "transformer attention");
        String expected = http.chat(body(chatRequest(SYSTEM, user)))
                .get("choices")
                .get(0)
                .get("message")
                .get("content")
                .asText();

        List<JsonNode> chunks = http.stream(body(streamed(chatRequest(SYSTEM, user), false)));

        assertThat(chunks).allSatisfy(chunk -> {
            assertThat(chunk.get("object").asText()).isEqualTo("chat.completion.chunk");
            assertThat(chunk.get("id").asText())
                    .isEqualTo(chunks.get(0).get("id").asText());
            assertThat(chunk.has("usage")).as("no usage unless asked").isFalse();
            assertThat(chunk.get("choices")).hasSize(1);
        });
        assertThat(chunks.get(0).at("/choices/0/delta/role").asText()).isEqualTo("assistant");
        JsonNode last = chunks.get(chunks.size() - 1);
        assertThat(last.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
        assertThat(last.at("/choices/0/delta").isEmpty()).isTrue();
        StringBuilder content = new StringBuilder();
        int contentDeltas = 0;
        for (JsonNode chunk : chunks.subList(1, chunks.size() - 1)) {
            assertThat(chunk.at("/choices/0/finish_reason").isNull()).isTrue();
            content.append(chunk.at("/choices/0/delta/content").asText());
            contentDeltas++;
        }
        assertThat(content.toString()).isEqualTo(expected);
        assertThat(contentDeltas).isEqualTo(Tokenizer.count(expected));
        assertValid(json(SCHEMA), json(content.toString()));
    }

    @Test
    void shouldSendAUsageChunkOnlyWhenIncludeUsageIsAsked() {
        start();

        List<JsonNode> withUsage = http.stream(body(streamed(chatRequest(null, "Topic: kv cache"), true)));
        List<JsonNode> withoutUsage = http.stream(body(streamed(chatRequest(null, "Topic: kv cache"), false)));

        JsonNode usageChunk = withUsage.get(withUsage.size() - 1);
        assertThat(usageChunk.get("choices")).isEmpty();
        JsonNode usage = usageChunk.get("usage");
        int contentDeltas = withUsage.size() - 3; // role, contents..., finish, usage
        assertThat(usage.get("completion_tokens").asInt()).isEqualTo(contentDeltas);
        assertThat(usage.get("prompt_tokens").asInt()).isPositive();
        assertThat(usage.get("total_tokens").asInt())
                .isEqualTo(usage.get("prompt_tokens").asInt()
                        + usage.get("completion_tokens").asInt());
        assertThat(usage.get("prompt_tokens_details").get("cached_tokens").asInt())
                .isZero();
        assertThat(withUsage.subList(0, withUsage.size() - 1))
                .allSatisfy(chunk -> assertThat(chunk.get("usage").isNull()).isTrue());
        assertThat(withUsage
                        .get(withUsage.size() - 2)
                        .at("/choices/0/finish_reason")
                        .asText())
                .isEqualTo("stop");
        assertThat(withoutUsage)
                .noneSatisfy(chunk -> assertThat(chunk.has("usage")).isTrue());
        assertThat(withoutUsage).hasSize(withUsage.size() - 1);
    }

    @Test
    void shouldStreamToolCallFragmentsThatReassembleIntoTheArguments() {
        start();
        String user = userMessage("1706.03762", "Attention Is All You Need", "transformer attention");
        JsonNode complete = http.chat(body(withTools(chatRequest(SYSTEM, user))));

        List<JsonNode> chunks = http.stream(body(streamed(withTools(chatRequest(SYSTEM, user)), true)));

        JsonNode call = complete.at("/choices/0/message/tool_calls/0");
        List<JsonNode> fragments = new ArrayList<>();
        chunks.stream()
                .filter(c -> c.at("/choices/0/delta/tool_calls").isArray())
                .forEach(c -> fragments.add(c.at("/choices/0/delta/tool_calls/0")));
        assertThat(fragments.size())
                .as("arguments are split over several fragments")
                .isGreaterThan(3);
        JsonNode first = fragments.get(0);
        assertThat(first.get("index").asInt()).isZero();
        assertThat(first.get("id").asText()).isEqualTo(call.get("id").asText()).startsWith("call_");
        assertThat(first.get("type").asText()).isEqualTo("function");
        assertThat(first.at("/function/name").asText()).isEqualTo("web_search");
        assertThat(first.at("/function/arguments").isTextual()).isTrue();
        StringBuilder arguments =
                new StringBuilder(first.at("/function/arguments").asText());
        for (JsonNode fragment : fragments.subList(1, fragments.size())) {
            assertThat(fragment.get("index").asInt()).isZero();
            assertThat(fragment.has("id")).isFalse();
            assertThat(fragment.has("type")).isFalse();
            assertThat(fragment.get("function").has("name")).isFalse();
            arguments.append(fragment.at("/function/arguments").asText());
        }
        assertThat(arguments.toString())
                .isEqualTo(call.at("/function/arguments").asText());
        assertThat(json(arguments.toString()))
                .isEqualTo(json("{\"query\":" + Json.write(Json.NODES.textNode(user)) + ",\"num_results\":5}"));
        JsonNode finish = chunks.get(chunks.size() - 2);
        assertThat(finish.at("/choices/0/finish_reason").asText()).isEqualTo("tool_calls");
        assertThat(complete.at("/choices/0/finish_reason").asText()).isEqualTo("tool_calls");
        assertThat(complete.at("/choices/0/message/content").isNull()).isTrue();
        assertThat(chunks.get(chunks.size() - 1).at("/usage/completion_tokens").asInt())
                .isEqualTo(complete.at("/usage/completion_tokens").asInt());
    }

    @Test
    void shouldCallAToolOnTheFirstTurnThenAnswerSchemaValidJsonAfterTheToolResult() {
        start(SimulatorOptions.builder().toolCallRule("web_search.query=Topic: (.*)=>systems research context for $1"));
        String user = userMessage(
                "2309.06180", "Efficient Memory Management for LLM Serving with PagedAttention", "kv cache serving");
        ObjectNode turn1 = withTools(chatRequest(SYSTEM, user));

        JsonNode first = http.chat(body(turn1));

        JsonNode call = first.at("/choices/0/message/tool_calls/0");
        assertThat(json(call.at("/function/arguments").asText()).get("query").asText())
                .isEqualTo("systems research context for kv cache serving");
        ObjectNode turn2 = turn1.deepCopy();
        ObjectNode assistant = ((ArrayNode) turn2.get("messages")).addObject();
        assistant.put("role", "assistant").putNull("content");
        assistant.putArray("tool_calls").add(call.deepCopy());
        ((ArrayNode) turn2.get("messages"))
                .addObject()
                .put("role", "tool")
                .put("tool_call_id", call.get("id").asText())
                .put("content", "Recent work on kv cache serving.");

        JsonNode second = http.chat(body(turn2));

        assertThat(second.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
        JsonNode answer = json(second.at("/choices/0/message/content").asText());
        assertValid(json(SCHEMA), answer);
        assertThat(answer.get("paper_id").asText()).isEqualTo("2309.06180");
        assertThat(answer.get("topic").asText()).isEqualTo("kv cache serving");
        int firstPromptAndOutput = first.at("/usage/prompt_tokens").asInt()
                + first.at("/usage/completion_tokens").asInt();
        assertThat(second.at("/usage/prompt_tokens_details/cached_tokens").asInt())
                .as("turn 2 reuses turn 1's prompt and its tool-call output")
                .isGreaterThanOrEqualTo(firstPromptAndOutput);
    }

    @Test
    void shouldReportCachedTokensForASharedSystemPromptAndNoneAfterAFlush() {
        start();
        String a = body(chatRequest(SYSTEM, userMessage("1706.03762", "Attention", "transformer attention")));
        String b = body(chatRequest(SYSTEM, userMessage("1810.04805", "BERT", "transformer attention")));
        int systemTokens = Tokenizer.count("<|im_start|>system\n" + SYSTEM + "<|im_end|>\n");

        JsonNode cold = http.chat(a);
        JsonNode warm = http.chat(b);
        HttpResponse<String> flush = http.post("/flush_cache", "");
        JsonNode afterFlush = http.chat(b);
        JsonNode warmAgain = http.chat(a);
        HttpResponse<String> reset = http.post("/reset_prefix_cache", "");
        JsonNode afterReset = http.chat(a);

        assertThat(cold.at("/usage/prompt_tokens_details/cached_tokens").asInt())
                .isZero();
        assertThat(warm.at("/usage/prompt_tokens_details/cached_tokens").asInt())
                .isGreaterThanOrEqualTo(systemTokens)
                .isLessThan(warm.at("/usage/prompt_tokens").asInt());
        assertThat(flush.statusCode()).isEqualTo(200);
        assertThat(afterFlush.at("/usage/prompt_tokens_details/cached_tokens").asInt())
                .isZero();
        assertThat(warmAgain.at("/usage/prompt_tokens_details/cached_tokens").asInt())
                .isGreaterThan(systemTokens);
        assertThat(reset.statusCode()).isEqualTo(200);
        assertThat(afterReset.at("/usage/prompt_tokens_details/cached_tokens").asInt())
                .isZero();
    }

    @Test
    void shouldCountPrefillTokensComputedAsPromptMinusCached() {
        start();
        long promptSum = 0;
        long cachedSum = 0;
        long completionSum = 0;
        for (int i = 0; i < 6; i++) {
            JsonNode usage = http.chat(
                            body(chatRequest(SYSTEM, userMessage("id-" + i, "Title " + i, "topic " + (i % 2)))))
                    .get("usage");
            promptSum += usage.get("prompt_tokens").asLong();
            cachedSum += usage.at("/prompt_tokens_details/cached_tokens").asLong();
            completionSum += usage.get("completion_tokens").asLong();
        }

        SimulatorStats stats = simulator.stats();

        assertThat(stats.requests()).isEqualTo(6);
        assertThat(stats.promptTokens()).isEqualTo(promptSum);
        assertThat(stats.cachedTokens()).isEqualTo(cachedSum).isPositive();
        assertThat(stats.completionTokens()).isEqualTo(completionSum);
        assertThat(stats.prefillTokensComputed()).isEqualTo(promptSum - cachedSum);
        simulator.resetStats();
        assertThat(simulator.stats().promptTokens()).isZero();
    }

    @Test
    void shouldCountPeakInFlightWithParallelRequests() {
        start();
        int parallel = 8;
        simulator.pauseScheduling();

        List<CompletableFuture<HttpResponse<String>>> responses = IntStream.range(0, parallel)
                .mapToObj(i -> http.postAsync(
                        "/v1/chat/completions",
                        body(streamed(chatRequest(SYSTEM, "Topic: parallel " + i), i % 2 == 0))))
                .toList();
        await().atMost(Duration.ofSeconds(10)).until(() -> simulator.stats().waiting() == parallel);
        SimulatorStats held = simulator.stats();
        simulator.resumeScheduling();

        assertThat(held.inFlight()).isEqualTo(parallel);
        assertThat(held.running()).isZero();
        assertThat(responses)
                .allSatisfy(response -> assertThat(response.join().statusCode()).isEqualTo(200));
        await().atMost(Duration.ofSeconds(5)).until(() -> simulator.stats().inFlight() == 0);
        assertThat(simulator.stats().peakInFlight()).isEqualTo(parallel);
        assertThat(simulator.stats().requests()).isEqualTo(parallel);
        simulator.resetStats();
        assertThat(simulator.stats().peakInFlight()).isZero();
    }

    @Test
    void shouldAnswer500WhenTheLastUserMessageHasTheFailureMarker() {
        start(SimulatorOptions.builder().failOnMarker("FAIL-ME"));

        HttpResponse<String> failed = http.post("/v1/chat/completions", body(chatRequest(null, "please FAIL-ME now")));
        JsonNode ok = http.chat(body(chatRequest(null, "please succeed")));

        assertThat(failed.statusCode()).isEqualTo(500);
        JsonNode error = json(failed.body()).get("error");
        assertThat(error.get("type").asText()).isEqualTo("server_error");
        assertThat(error.get("code").asText()).isEqualTo("simulated_failure");
        assertThat(error.get("message").asText()).contains("simulated failure");
        assertThat(ok.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
        assertThat(simulator.stats().requests()).isEqualTo(1);
    }

    @Test
    void shouldAnswer400WithAnOpenAiErrorForMalformedRequests() {
        start();

        HttpResponse<String> notJson = http.post("/v1/chat/completions", "{\"messages\": [");
        HttpResponse<String> noMessages = http.post("/v1/chat/completions", "{\"model\":\"sim-model\"}");
        HttpResponse<String> badMaxTokens = http.post(
                "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}");
        HttpResponse<String> badRole =
                http.post("/v1/chat/completions", "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}");

        assertThat(List.of(notJson, noMessages, badMaxTokens, badRole)).allSatisfy(response -> {
            assertThat(response.statusCode()).isEqualTo(400);
            JsonNode error = json(response.body()).get("error");
            assertThat(error.get("type").asText()).isEqualTo("invalid_request_error");
            assertThat(error.get("message").asText()).isNotBlank();
            assertThat(error.has("code")).isTrue();
        });
        assertThat(json(notJson.body()).at("/error/code").asText()).isEqualTo("invalid_json");
        assertThat(json(noMessages.body()).at("/error/param").asText()).isEqualTo("messages");
        assertThat(json(badMaxTokens.body()).at("/error/param").asText()).isEqualTo("max_tokens");
        // The server counts a request out once its response is written, which may be just after the client has it.
        await().atMost(Duration.ofSeconds(5)).until(() -> simulator.stats().inFlight() == 0);
        assertThat(simulator.stats().peakInFlight()).isEqualTo(1);
    }

    @Test
    void shouldTruncateAtMaxTokensWithFinishReasonLength() {
        start();

        JsonNode content = http.chat(body(chatRequest(SYSTEM, "Paper ID: 1").put("max_tokens", 5)));
        JsonNode toolCall =
                http.chat(body(withTools(chatRequest(SYSTEM, "Topic: x")).put("max_tokens", 3)));

        assertThat(content.at("/choices/0/finish_reason").asText()).isEqualTo("length");
        assertThat(content.at("/usage/completion_tokens").asInt()).isEqualTo(5);
        assertThat(Tokenizer.count(content.at("/choices/0/message/content").asText()))
                .isEqualTo(5);
        assertThat(toolCall.at("/choices/0/finish_reason").asText()).isEqualTo("length");
        assertThat(toolCall.at("/choices/0/message").has("tool_calls")).isFalse();
        assertThat(toolCall.at("/choices/0/message/content").asText()).startsWith("<tool_call>");
        assertThat(toolCall.at("/usage/completion_tokens").asInt()).isEqualTo(3);
    }

    @Test
    void shouldQueueRequestsPastTheBatchCapacityAndReportQueueAndKvUsageUnderTheEnginesNames() {
        // A batch of two and decode steps slow enough to watch: the rest of eight requests must wait
        start(SimulatorOptions.builder().profile(new EngineProfile("two-seats", 100_000, 25, 0, 1L << 20, 8_192, 2)));
        List<CompletableFuture<HttpResponse<String>>> responses = IntStream.range(0, 8)
                .mapToObj(i -> http.postAsync("/v1/chat/completions", body(chatRequest(SYSTEM, "Topic: queued " + i))))
                .toList();

        await().atMost(Duration.ofSeconds(10)).until(() -> simulator.stats().waiting() >= 5);
        String page = http.get("/metrics").body();

        assertThat(simulator.stats().running()).isEqualTo(2);
        assertThat(gauge(page, "sglang:num_running_reqs")).isEqualTo(2);
        assertThat(gauge(page, "vllm:num_requests_running")).isEqualTo(2);
        assertThat(gauge(page, "sglang:num_queue_reqs"))
                .isGreaterThanOrEqualTo(5)
                .isEqualTo(gauge(page, "vllm:num_requests_waiting"));
        assertThat(gauge(page, "sglang:token_usage")).isPositive().isEqualTo(gauge(page, "vllm:kv_cache_usage_perc"));
        assertThat(responses)
                .allSatisfy(response -> assertThat(response.join().statusCode()).isEqualTo(200));
        assertThat(gauge(http.get("/metrics").body(), "vllm:kv_cache_usage_perc"))
                .as("nothing running holds KV")
                .isZero();
    }

    private static double gauge(String page, String name) {
        return page.lines()
                .filter(line -> line.startsWith(name + "{"))
                .mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
                .findFirst()
                .orElseThrow();
    }

    @Test
    void shouldServeModelsMetricsHealthAndNotFound() {
        start(SimulatorOptions.builder().modelName("qwen-sim"));
        http.chat(body(chatRequest(SYSTEM, "Topic: a")));
        http.chat(body(chatRequest(SYSTEM, "Topic: b")));

        JsonNode models = json(http.get("/v1/models").body());
        HttpResponse<String> metrics = http.get("/metrics");
        HttpResponse<String> health = http.get("/health");
        HttpResponse<String> missing = http.get("/v2/nothing");

        assertThat(models.get("object").asText()).isEqualTo("list");
        assertThat(models.at("/data/0/id").asText()).isEqualTo("qwen-sim");
        assertThat(models.at("/data/0/object").asText()).isEqualTo("model");
        SimulatorStats stats = simulator.stats();
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.body())
                .contains("# TYPE sim:requests_total counter")
                .contains("sim:requests_total{model_name=\"qwen-sim\"} 2\n")
                .contains("sim:prompt_tokens_total{model_name=\"qwen-sim\"} " + stats.promptTokens() + "\n")
                .contains("sim:cached_tokens_total{model_name=\"qwen-sim\"} " + stats.cachedTokens() + "\n")
                .contains("sim:prefill_tokens_computed_total{model_name=\"qwen-sim\"} " + stats.prefillTokensComputed()
                        + "\n")
                .contains("sim:completion_tokens_total{model_name=\"qwen-sim\"} " + stats.completionTokens() + "\n")
                .contains("sim:num_requests_running{model_name=\"qwen-sim\"} 0\n")
                .contains("sim:num_requests_waiting{model_name=\"qwen-sim\"} 0\n")
                .contains("# TYPE sim:cache_usage gauge");
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(json(missing.body()).at("/error/code").asText()).isEqualTo("not_found");
    }

    @Test
    void shouldCaptureRawRequestBodiesInArrivalOrderWhenAsked() {
        start(SimulatorOptions.builder().captureRequests(true));
        String first = body(chatRequest(null, "first"));
        String second = "{\"messages\":[{\"role\":\"user\",\"content\":\"second\"}]}";

        http.chat(first);
        http.chat(second);

        assertThat(simulator.capturedRequestBodies()).containsExactly(first, second);
    }

    @Test
    void shouldRejectAPromptLargerThanTheKvPool() {
        start(SimulatorOptions.builder()
                .profile(new EngineProfile("tiny", Double.POSITIVE_INFINITY, 0, 0, 500, 1024, 8)));

        HttpResponse<String> response = http.post("/v1/chat/completions", body(chatRequest(SYSTEM, "x")));

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(json(response.body()).at("/error/code").asText()).isEqualTo("context_length_exceeded");
    }

    @Test
    void shouldRefuseAPromptOverTheContextWindowAsSglangDoes() {
        start(SimulatorOptions.builder().contextTokens(500));

        HttpResponse<String> response = http.post("/v1/chat/completions", body(chatRequest(SYSTEM, "x")));

        assertThat(response.statusCode()).isEqualTo(400);
        JsonNode error = json(response.body());
        assertThat(error.get("object").asText()).isEqualTo("error");
        assertThat(error.get("type").asText()).isEqualTo("BadRequestError");
        assertThat(error.get("code").asInt()).isEqualTo(400);
        assertThat(error.get("message").asText())
                .matches("The input \\(\\d+ tokens\\) is longer than the model's context length \\(500 tokens\\)\\.");
        assertThat(http.chat(body(chatRequest(null, "short")))
                        .at("/choices/0/finish_reason")
                        .asText())
                .as("a prompt within the window is served")
                .isEqualTo("stop");
    }

    @Test
    void shouldRefuseAPromptOverTheContextWindowAsVllmDoes() {
        start(SimulatorOptions.builder().dialect(SimulatorDialect.VLLM).contextTokens(500));

        HttpResponse<String> response = http.post("/v1/chat/completions", body(chatRequest(SYSTEM, "x")));

        assertThat(response.statusCode()).isEqualTo(400);
        JsonNode error = json(response.body()).get("error");
        assertThat(error.get("type").asText()).isEqualTo("BadRequestError");
        assertThat(error.get("code").asInt()).isEqualTo(400);
        assertThat(error.get("message").asText())
                .matches(
                        "This model's maximum context length is 500 tokens\\. "
                                + "However, your request has \\d+ input tokens\\. Please reduce the length of the input messages\\.");
    }

    @Test
    void shouldCallToolsForTheScriptedTurnsThenAnswerAndSummarizeWhenAsked() {
        start(SimulatorOptions.builder().toolTurns(3));
        ObjectNode request = withTools(chatRequest(SYSTEM, userMessage("1", "A long agent", "compaction")));
        for (int turn = 1; turn <= 3; turn++) {
            JsonNode answer = http.chat(body(request));
            assertThat(answer.at("/choices/0/finish_reason").asText())
                    .as("turn " + turn)
                    .isEqualTo("tool_calls");
            JsonNode call = answer.at("/choices/0/message/tool_calls/0");
            ObjectNode assistant = ((ArrayNode) request.get("messages")).addObject();
            assistant.put("role", "assistant").putNull("content");
            assistant.putArray("tool_calls").add(call.deepCopy());
            ((ArrayNode) request.get("messages"))
                    .addObject()
                    .put("role", "tool")
                    .put("tool_call_id", call.get("id").asText())
                    .put("content", "page ".repeat(1000));
        }
        ObjectNode summary = request.deepCopy();
        ((ArrayNode) summary.get("messages"))
                .addObject()
                .put("role", "user")
                .put("content", "[compaction] Summarize what the results of these earlier tool calls tell you");

        JsonNode last = http.chat(body(request));
        JsonNode summarized = http.chat(body(summary));

        assertThat(last.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
        assertValid(json(SCHEMA), json(last.at("/choices/0/message/content").asText()));
        assertThat(summarized.at("/choices/0/message/content").asText())
                .isEqualTo("Simulated summary: the 3 earlier tool results found what the task asked for.");
    }

    @Test
    void shouldServeTheH100ProfileWithSpeedup() {
        start(SimulatorOptions.builder().profile(EngineProfile.H100_QWEN32B).speedup(50));

        List<JsonNode> chunks = http.stream(body(streamed(chatRequest(SYSTEM, userMessage("1", "T", "t")), true)));

        JsonNode usage = chunks.get(chunks.size() - 1).get("usage");
        assertThat(usage.get("prompt_tokens").asInt()).isGreaterThan(1000);
        assertThat(simulator.stats().prefillTokensComputed())
                .isEqualTo(usage.get("prompt_tokens").asLong());
        assertThat(simulator.options().profile().name()).isEqualTo("h100-qwen2.5-32b");
        // The engine time charged is the profile's formula over what the request computed: one step
        // prefills the prompt (under the 8,192-token budget) and emits token 0, then one step per token.
        long prompt = usage.get("prompt_tokens").asLong();
        long completion = usage.get("completion_tokens").asLong();
        SimulatorStats stats = simulator.stats();
        assertThat(stats.steps()).isEqualTo(completion);
        assertThat(stats.emittedContextTokens()).isEqualTo(completion * prompt + completion * (completion - 1) / 2);
        assertThat(stats.simulatedEngineMillis())
                .isCloseTo(
                        EngineProfile.H100_QWEN32B.workMillis(
                                completion, prompt, completion, stats.emittedContextTokens()),
                        org.assertj.core.api.Assertions.within(1e-6));
    }
}
