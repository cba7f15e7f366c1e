package io.batchagent.inference;

import static io.batchagent.inference.FakeEngine.json;
import static io.batchagent.inference.FakeEngine.sse;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The Anthropic Messages client against a local server speaking the Messages API's wire format. */
class AnthropicClientTest {

    /** A streamed answer as the Messages API sends it: text, then two tool_use blocks with input_json_delta fragments. */
    static final String TOOL_USE_STREAM = """
            event: message_start
            data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":1800,"output_tokens":1}}}

            event: content_block_start
            data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

            event: ping
            data: {"type": "ping"}

            event: content_block_delta
            data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me look "}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"that up."}}

            event: content_block_stop
            data: {"type":"content_block_stop","index":0}

            event: content_block_start
            data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"web_search","input":{}}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"query\\": \\"Lyon po"}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"pulation\\"}"}}

            event: content_block_stop
            data: {"type":"content_block_stop","index":1}

            event: content_block_start
            data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01B","name":"fetch_url","input":{}}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"url\\":"}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" \\"https://insee.fr\\"}"}}

            event: content_block_stop
            data: {"type":"content_block_stop","index":2}

            event: message_delta
            data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

            event: message_stop
            data: {"type":"message_stop"}

            """;

    private final BatchSpec spec = Fixtures.spec("batch-claude");
    private final Queue<MockResponse> answers = new ConcurrentLinkedQueue<>();
    private FakeEngine engine;
    private AnthropicClient client;

    @AfterEach
    void close() {
        if (client != null) {
            client.close();
        }
        if (engine != null) {
            engine.close();
        }
    }

    @Test
    void shouldCloseTheSharedPrefixWithCacheBreakpointsAfterToolsAndSystem() throws Exception {
        start(config().withEngineApiKey("sk-ant-test-1"));
        answers.add(sse(TOOL_USE_STREAM));
        answers.add(sse(TOOL_USE_STREAM));

        call("job-1", 1, List.of(Fixtures.user("Find the population of Lyon.")));
        call("job-2", 2, OpenAiDialectWireTest.history());

        FakeEngine.Received first = engine.received().get(0);
        assertThat(first.method() + " " + first.path()).isEqualTo("POST /v1/messages");
        assertThat(first.header("x-api-key")).isEqualTo("sk-ant-test-1");
        assertThat(first.header("anthropic-version")).isEqualTo("2023-06-01");
        assertThat(first.header("content-type")).isEqualTo("application/json");
        JsonNode body = first.json();
        assertThat(OpenAiDialectWireTest.fieldNames(body))
                .containsExactly("model", "max_tokens", "temperature", "stream", "tools", "system", "messages");
        assertThat(body.get("stream").asBoolean()).isTrue();
        assertThat(body.get("max_tokens").asInt()).isEqualTo(512);
        assertThat(body.get("tools")).hasSize(2);
        assertThat(body.at("/tools/0").toString())
                .isEqualTo(
                        "{\"name\":\"web_search\",\"description\":\"The web_search tool.\","
                                + "\"input_schema\":{\"properties\":{\"query\":{\"type\":\"string\"}},\"required\":[\"query\"],\"type\":\"object\"}}");
        assertThat(body.at("/tools/1/cache_control").toString()).isEqualTo("{\"type\":\"ephemeral\"}");
        assertThat(body.get("system")).hasSize(1);
        assertThat(body.at("/system/0/type").asText()).isEqualTo("text");
        assertThat(body.at("/system/0/text").asText()).isEqualTo(SharedPrefix.systemContent(spec));
        assertThat(body.at("/system/0/cache_control").toString()).isEqualTo("{\"type\":\"ephemeral\"}");
        assertThat(body.get("messages").toString())
                .isEqualTo(
                        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Find the population of Lyon.\"}]}]");

        // The second agent's body starts with the same bytes up to its messages.
        String a = first.body();
        String b = engine.received().get(1).body();
        int shared = a.indexOf("\"messages\":[") + "\"messages\":[".length();
        assertThat(b).startsWith(a.substring(0, shared));
        JsonNode history = engine.received().get(1).json().get("messages");
        assertThat(history.toString())
                .isEqualTo("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Find the "
                        + "population of Lyon.\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"call_1\","
                        + "\"name\":\"web_search\",\"input\":{\"query\":\"Lyon\"}}]},{\"role\":\"user\",\"content\":[{\"type\":"
                        + "\"tool_result\",\"tool_use_id\":\"call_1\",\"content\":\"Lyon: 522,969\"}]}]");
    }

    @Test
    void shouldAccumulateStreamedInputJsonDeltasIntoEachToolCallsArguments() throws Exception {
        start(config());
        answers.add(sse(TOOL_USE_STREAM));

        ChatResponse response = call("job-1", 1, List.of(Fixtures.user("Lyon?")));

        assertThat(response.failure()).isNull();
        assertThat(response.content()).isEqualTo("Let me look that up.");
        assertThat(response.toolCalls())
                .containsExactly(
                        new RequestedToolCall(
                                "toolu_01A09q90qw90lq917835lq9", "web_search", "{\"query\": \"Lyon population\"}"),
                        new RequestedToolCall("toolu_01B", "fetch_url", "{\"url\": \"https://insee.fr\"}"));
        assertThat(response.finishReason()).isEqualTo("tool_calls");
        assertThat(response.usage()).isEqualTo(new TokenUsage(1812, 1800, 89, 0, true));
        assertThat(response.timeToFirstTokenMs()).isPresent();
    }

    @Test
    void shouldReadAWarmUpAnswerAndItsCacheWrites() throws Exception {
        start(config());
        answers.add(json(200, """
                {"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
                 "content":[{"type":"text","text":"O"}],"stop_reason":"max_tokens","stop_sequence":null,
                 "usage":{"input_tokens":3,"cache_creation_input_tokens":1750,"cache_read_input_tokens":0,"output_tokens":1}}"""));

        ChatResponse response = client.complete(
                        ChatRequest.of("warm-up:batch-claude", 0, AgentPrompt.warmUp(PreparedBatch.of(spec))))
                .get(10, TimeUnit.SECONDS);

        JsonNode body = engine.received().get(0).json();
        assertThat(body.get("stream").asBoolean()).isFalse();
        assertThat(body.get("max_tokens").asInt()).isEqualTo(1);
        assertThat(body.get("messages").toString())
                .isEqualTo("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\".\"}]}]");
        assertThat(body.at("/system/0/cache_control/type").asText()).isEqualTo("ephemeral");
        assertThat(response.usage()).isEqualTo(new TokenUsage(1753, 0, 1, 1750, true));
        assertThat(response.finishReason()).isEqualTo("length");
    }

    @Test
    void shouldRetryRateLimitsAndOverloadHonouringRetryAfter() throws Exception {
        start(config());
        answers.add(new MockResponse.Builder()
                .code(429)
                .addHeader("Content-Type", "application/json")
                .addHeader("retry-after", "0")
                .body(
                        "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Number of request tokens has exceeded your rate limit\"}}")
                .build());
        answers.add(
                json(529, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"));
        answers.add(sse(TOOL_USE_STREAM));

        ChatResponse response = call("job-1", 1, List.of(Fixtures.user("Lyon?")));

        assertThat(response.failure()).isNull();
        assertThat(response.toolCalls()).hasSize(2);
        assertThat(engine.received()).hasSize(3);
    }

    @Test
    void shouldRetryAnOverloadedErrorEventMidStream() throws Exception {
        start(config());
        answers.add(sse("""
                event: message_start
                data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":1}}}

                event: error
                data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}

                """));
        answers.add(sse(TOOL_USE_STREAM));

        ChatResponse response = call("job-1", 1, List.of(Fixtures.user("Lyon?")));

        assertThat(response.failure()).isNull();
        assertThat(engine.received()).hasSize(2);
    }

    @Test
    void shouldFailABadRequestWithTheApisOwnMessageAndNeverShowTheKey() throws Exception {
        start(config().withEngineApiKey("sk-ant-secret-9"));
        answers.add(json(
                400,
                "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
                        + "\"message\":\"messages.1.content.0.tool_use.input: Input should be a valid dictionary\"}}"));

        ChatResponse response = call("job-1", 1, List.of(Fixtures.user("Lyon?")));

        assertThat(response.isFailure()).isTrue();
        assertThat(response.failure().httpStatus()).hasValue(400);
        assertThat(response.failure().retriable()).isFalse();
        assertThat(response.failure().message())
                .contains("HTTP 400")
                .contains("/v1/messages")
                .contains("messages.1.content.0.tool_use.input: Input should be a valid dictionary")
                .doesNotContain("sk-ant-secret-9");
        assertThat(engine.received()).hasSize(1);
    }

    @Test
    void shouldKeepArgumentsThatAreNotAnObjectAsTheObjectTheApiRequires() {
        assertThat(AnthropicMessages.input("{\"q\":1}").toString()).isEqualTo("{\"q\":1}");
        assertThat(AnthropicMessages.input("").toString()).isEqualTo("{}");
        assertThat(AnthropicMessages.input("{\"q\":").toString()).isEqualTo("{\"invalid_arguments\":\"{\\\"q\\\":\"}");
    }

    @Test
    void shouldMergeConsecutiveToolResultsIntoOneUserMessage() {
        List<ChatMessage> history = ThreeTurnConversationTest.historyAfterParallelCalls();

        String rendered = AnthropicMessages.messages(history).toString();

        assertThat(rendered)
                .isEqualTo("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Find the population of "
                        + "Lyon.\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"call_a\",\"name\":\"web_search\","
                        + "\"input\":{\"query\":\"Lyon\"}},{\"type\":\"tool_use\",\"id\":\"call_b\",\"name\":\"fetch_url\",\"input\":"
                        + "{\"url\":\"https://insee.fr\"}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
                        + "\"call_a\",\"content\":\"Lyon: 522,969\"},{\"type\":\"tool_result\",\"tool_use_id\":\"call_b\",\"content\":"
                        + "\"INSEE: 522,969 (2021)\"}]}]");
        assertThat(new String(
                        AnthropicMessages.render(
                                AgentPrompt.forAgent(PreparedBatch.of(spec), history, SchedulingHints.NONE)),
                        StandardCharsets.UTF_8))
                .endsWith(rendered.substring(1) + "}");
    }

    private void start(InferenceWorkerConfig config) {
        engine = new FakeEngine(request -> {
            MockResponse next = answers.poll();
            return next != null
                    ? next
                    : json(
                            500,
                            "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"no scripted answer\"}}");
        });
        client = new AnthropicClient(engine.endpoint(EngineEndpoint.Kind.ANTHROPIC), config);
    }

    private static InferenceWorkerConfig config() {
        return InferenceWorkerConfig.defaults()
                .withMaxInflight(4)
                .withEngineTimeout(Duration.ofSeconds(10))
                .withRetryBackoff(Duration.ofMillis(10));
    }

    private ChatResponse call(String jobId, int turn, List<ChatMessage> messages) throws Exception {
        AgentPrompt prompt = AgentPrompt.forAgent(
                PreparedBatch.of(spec),
                messages,
                SchedulingHints.forTurn(turn, spec.getMaxTurns(), java.util.OptionalInt.empty()));
        return client.complete(ChatRequest.of(jobId, turn, prompt)).get(10, TimeUnit.SECONDS);
    }
}
