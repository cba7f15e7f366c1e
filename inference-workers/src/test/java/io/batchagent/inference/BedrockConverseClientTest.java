package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.events.BatchSpec;
import java.time.Duration;
import java.util.List;
import java.util.OptionalInt;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import mockwebserver3.MockResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/**
 * The Bedrock Converse client through the real AWS SDK v2 client (endpoint override pointed at a local
 * server, static test credentials): the signed request, the cache points, the answer.
 */
class BedrockConverseClientTest {

    private static final String MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0";

    private final BatchSpec spec =
            BatchSpec.newBuilder(Fixtures.spec("batch-bedrock")).setModel(MODEL).build();
    private final Queue<MockResponse> answers = new ConcurrentLinkedQueue<>();
    private FakeEngine engine;
    private BedrockConverseClient client;

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
    void shouldSendASignedConverseRequestWithCachePointsAfterSystemAndTools() throws Exception {
        start();
        answers.add(EngineScripts.toolCalls(
                EngineEndpoint.Kind.BEDROCK,
                List.of(new EngineScripts.Call("tooluse_1", "web_search", "{\"query\":\"Lyon\"}"))));

        ChatResponse response = call(OpenAiDialectWireTest.history());

        FakeEngine.Received request = engine.received().get(0);
        assertThat(request.method()).isEqualTo("POST");
        assertThat(request.path()).isEqualTo("/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse");
        assertThat(request.header("authorization"))
                .startsWith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                .contains("/us-east-1/bedrock/aws4_request")
                .contains("SignedHeaders=")
                .contains("Signature=");
        assertThat(request.header("x-amz-date")).isNotBlank();
        JsonNode body = request.json();
        assertThat(body.get("system")).hasSize(2);
        assertThat(body.at("/system/0/text").asText()).isEqualTo(SharedPrefix.systemContent(spec));
        assertThat(body.at("/system/1").toString()).isEqualTo("{\"cachePoint\":{\"type\":\"default\"}}");
        JsonNode tools = body.at("/toolConfig/tools");
        assertThat(tools).hasSize(3);
        assertThat(tools.get(0).toString())
                .isEqualTo("{\"toolSpec\":{\"name\":\"web_search\",\"description\":\"The "
                        + "web_search tool.\",\"inputSchema\":{\"json\":{\"properties\":{\"query\":{\"type\":\"string\"}},"
                        + "\"required\":[\"query\"],\"type\":\"object\"}}}}");
        assertThat(tools.get(2).toString()).isEqualTo("{\"cachePoint\":{\"type\":\"default\"}}");
        assertThat(body.at("/inferenceConfig/maxTokens").asInt()).isEqualTo(512);
        assertThat(body.at("/inferenceConfig/temperature").asDouble()).isEqualTo(0.0);
        assertThat(body.get("messages").toString())
                .isEqualTo("[{\"role\":\"user\",\"content\":[{\"text\":\"Find the "
                        + "population of Lyon.\"}]},{\"role\":\"assistant\",\"content\":[{\"toolUse\":{\"toolUseId\":\"call_1\","
                        + "\"name\":\"web_search\",\"input\":{\"query\":\"Lyon\"}}}]},{\"role\":\"user\",\"content\":[{\"toolResult\":"
                        + "{\"toolUseId\":\"call_1\",\"content\":[{\"text\":\"Lyon: 522,969\"}]}}]}]");
        assertThat(response.failure()).isNull();
        assertThat(response.toolCalls())
                .containsExactly(new RequestedToolCall("tooluse_1", "web_search", "{\"query\":\"Lyon\"}"));
        assertThat(response.finishReason()).isEqualTo("tool_calls");
        // Bedrock's inputTokens excludes cache reads and writes.
        assertThat(response.usage()).isEqualTo(new TokenUsage(1840, 1800, 30, 0, true));
    }

    @Test
    void shouldRetryThrottlingHonouringRetryAfterAndThenAnswer() throws Exception {
        start();
        answers.add(new MockResponse.Builder()
                .code(429)
                .addHeader("Content-Type", "application/json")
                .addHeader(
                        "x-amzn-ErrorType", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/")
                .addHeader("Retry-After", "0")
                .body("{\"message\":\"Too many requests, please wait before trying again.\"}")
                .build());
        answers.add(EngineScripts.finalAnswer(EngineEndpoint.Kind.BEDROCK, "{\"city\":\"Lyon\",\"population\":1}"));

        ChatResponse response = call(List.of(Fixtures.user("Lyon?")));

        assertThat(response.failure()).isNull();
        assertThat(response.content()).isEqualTo("{\"city\":\"Lyon\",\"population\":1}");
        assertThat(response.finishReason()).isEqualTo("stop");
        assertThat(engine.received()).hasSize(2);
    }

    @Test
    void shouldFailAValidationErrorWithBedrocksOwnMessageWithoutRetrying() throws Exception {
        start();
        answers.add(new MockResponse.Builder()
                .code(400)
                .addHeader("Content-Type", "application/json")
                .addHeader(
                        "x-amzn-ErrorType", "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/")
                .body(
                        "{\"message\":\"The model returned the following errors: messages.1: tool_use ids were found without "
                                + "tool_result blocks\"}")
                .build());

        ChatResponse response = call(List.of(Fixtures.user("Lyon?")));

        assertThat(response.isFailure()).isTrue();
        assertThat(response.failure().httpStatus()).hasValue(400);
        assertThat(response.failure().message())
                .contains("ValidationException")
                .contains("tool_use ids were found without tool_result blocks")
                .doesNotContain("test-secret");
        assertThat(engine.received()).hasSize(1);
    }

    private void start() {
        engine = new FakeEngine(request -> {
            MockResponse next = answers.poll();
            return next != null ? next : FakeEngine.json(500, "{\"message\":\"no scripted answer\"}");
        });
        client = new BedrockConverseClient(
                engine.endpoint(EngineEndpoint.Kind.BEDROCK),
                InferenceWorkerConfig.defaults()
                        .withMaxInflight(2)
                        .withEngineTimeout(Duration.ofSeconds(10))
                        .withRetryBackoff(Duration.ofMillis(10)),
                StaticCredentialsProvider.create(AwsBasicCredentials.create("AKIDEXAMPLE", "test-secret")));
    }

    private ChatResponse call(List<io.batchagent.events.ChatMessage> messages) throws Exception {
        AgentPrompt prompt = AgentPrompt.forAgent(
                PreparedBatch.of(spec), messages, SchedulingHints.forTurn(2, 4, OptionalInt.empty()));
        return client.complete(ChatRequest.of("job-b", 2, prompt)).get(20, TimeUnit.SECONDS);
    }
}
