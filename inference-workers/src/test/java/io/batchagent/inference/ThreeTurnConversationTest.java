package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.JobStatus;
import io.batchagent.events.Role;
import io.batchagent.events.ToolCallRef;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import mockwebserver3.MockResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/**
 * A three-turn agent with parallel tool calls, on every engine: the engine answers in its own wire format
 * (streamed tool calls in fragments, Dynamo's whole calls and dispatch events, Anthropic's input_json_delta,
 * Bedrock's toolUse), the worker's history goes back to it, and the third request must carry the whole
 * conversation as valid history in that engine's format: every call in its assistant message, then one
 * result per call id, in order. This is where the Python original dropped Dynamo's streamed tool calls
 * from history and lost Anthropic's streamed arguments.
 */
class ThreeTurnConversationTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String ANSWER = "{\"city\":\"Lyon\",\"population\":522969}";
    private static final List<EngineScripts.Call> TURN_1 = List.of(
            new EngineScripts.Call("call_a", "web_search", "{\"query\":\"Lyon\"}"),
            new EngineScripts.Call("call_b", "fetch_url", "{\"url\":\"https://insee.fr\"}"));
    private static final List<EngineScripts.Call> TURN_2 =
            List.of(new EngineScripts.Call("call_c", "web_search", "{\"query\":\"Lyon 2021 census\"}"));
    private static final Map<String, String> OUTPUTS =
            Map.of("call_a", "Lyon: 522,969", "call_b", "INSEE: 522,969 (2021)", "call_c", "2021 census: 522,969");

    private FakeEngine engine;
    private CloseableEngineClient client;

    @AfterEach
    void close() {
        if (client != null) {
            client.close();
        }
        if (engine != null) {
            engine.close();
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = EngineEndpoint.Kind.class,
            names = {"SGLANG", "VLLM", "DYNAMO", "OPENAI", "ANTHROPIC", "BEDROCK"})
    void shouldRoundTripAThreeTurnConversationWithParallelToolCallsAsValidHistory(EngineEndpoint.Kind kind) {
        // Given an engine that asks for two tools, then one, then answers
        Queue<MockResponse> script = new ConcurrentLinkedQueue<>(List.of(
                EngineScripts.toolCalls(kind, TURN_1),
                EngineScripts.toolCalls(kind, TURN_2),
                EngineScripts.finalAnswer(kind, ANSWER)));
        engine = new FakeEngine(request -> {
            if (FakeEngine.isProbe(request)) {
                return FakeEngine.json(200, OpenAiChunks.completion("p", 9, 0, 1));
            }
            if (!request.method().equals("POST")) {
                return FakeEngine.json(404, "{\"error\":{\"message\":\"not here\"}}");
            }
            MockResponse next = script.poll();
            return next != null ? next : FakeEngine.json(500, "{\"error\":{\"message\":\"script exhausted\"}}");
        });
        client = client(kind);
        BatchSpec spec = Fixtures.spec("batch-3-" + kind.scheme());
        AgentHarness agent = new AgentHarness(spec, client, BatchWarmer.disabled());

        // When the agent runs its three turns
        agent.handle(Fixtures.turn(
                "job-1",
                spec.getBatchId(),
                1,
                List.of(Fixtures.user("Find the population of Lyon.")),
                System.currentTimeMillis()));
        AgentTurn second = AgentHarness.nextTurn(agent.waiting("job-1"), OUTPUTS);
        agent.handle(second);
        AgentTurn third = AgentHarness.nextTurn(agent.waiting("job-1"), OUTPUTS);
        agent.handle(third);

        // Then the agent succeeded with the answer, after three model calls and three tool calls
        AgentResult result = agent.result("job-1");
        assertThat(result.getStatus()).as(String.valueOf(result.getError())).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(result.getOutputJson()).isEqualTo(ANSWER);
        assertThat(result.getTurns()).isEqualTo(3);
        assertThat(result.getToolCallsRequested()).isEqualTo(3);
        assertThat(result.getUsage().getModelCalls()).isEqualTo(3);
        assertThat(result.getUsage().getCachedPromptTokens()).isPositive();

        // And the worker kept every streamed call, with its whole arguments, in the agent's history
        assertThat(second.getMessages().get(1).getToolCalls())
                .extracting(ToolCallRef::getId, ToolCallRef::getArgumentsJson)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("call_a", "{\"query\":\"Lyon\"}"),
                        org.assertj.core.groups.Tuple.tuple("call_b", "{\"url\":\"https://insee.fr\"}"));

        // And the third request carries the whole conversation as valid history in the engine's format
        List<FakeEngine.Received> calls = agentCalls();
        assertThat(calls).hasSize(3);
        JsonNode last = calls.get(2).json();
        switch (kind) {
            case ANTHROPIC -> assertValidAnthropicHistory(last.get("messages"));
            case BEDROCK -> assertValidBedrockHistory(last.get("messages"));
            default -> assertValidOpenAiHistory(last.get("messages"));
        }
    }

    private List<FakeEngine.Received> agentCalls() {
        List<FakeEngine.Received> calls = new ArrayList<>();
        for (FakeEngine.Received request : engine.received()) {
            if (request.method().equals("POST") && !FakeEngine.isProbe(request)) {
                calls.add(request);
            }
        }
        return calls;
    }

    private static void assertValidOpenAiHistory(JsonNode messages) {
        assertThat(messages)
                .extracting(m -> m.get("role").asText())
                .containsExactly("system", "user", "assistant", "tool", "tool", "assistant", "tool");
        assertThat(messages.get(2).get("tool_calls")).hasSize(2);
        assertOpenAiCall(messages.get(2).get("tool_calls").get(0), TURN_1.get(0));
        assertOpenAiCall(messages.get(2).get("tool_calls").get(1), TURN_1.get(1));
        assertThat(messages.get(3).get("tool_call_id").asText()).isEqualTo("call_a");
        assertThat(messages.get(3).get("content").asText()).isEqualTo("Lyon: 522,969");
        assertThat(messages.get(4).get("tool_call_id").asText()).isEqualTo("call_b");
        assertThat(messages.get(5).get("tool_calls")).hasSize(1);
        assertOpenAiCall(messages.get(5).get("tool_calls").get(0), TURN_2.get(0));
        assertThat(messages.get(6).get("tool_call_id").asText()).isEqualTo("call_c");
    }

    private static void assertOpenAiCall(JsonNode call, EngineScripts.Call expected) {
        assertThat(call.get("id").asText()).isEqualTo(expected.id());
        assertThat(call.get("type").asText()).isEqualTo("function");
        assertThat(call.at("/function/name").asText()).isEqualTo(expected.name());
        assertThat(parse(call.at("/function/arguments").asText())).isEqualTo(parse(expected.arguments()));
    }

    private static void assertValidAnthropicHistory(JsonNode messages) {
        assertThat(messages)
                .extracting(m -> m.get("role").asText())
                .containsExactly("user", "assistant", "user", "assistant", "user");
        JsonNode firstCalls = messages.get(1).get("content");
        assertThat(firstCalls).extracting(b -> b.get("type").asText()).containsExactly("tool_use", "tool_use");
        assertThat(firstCalls.get(0).get("id").asText()).isEqualTo("call_a");
        assertThat(firstCalls.get(0).get("input")).isEqualTo(parse(TURN_1.get(0).arguments()));
        assertThat(firstCalls.get(1).get("input")).isEqualTo(parse(TURN_1.get(1).arguments()));
        JsonNode firstResults = messages.get(2).get("content");
        assertThat(firstResults)
                .extracting(
                        b -> b.get("type").asText() + ":" + b.get("tool_use_id").asText())
                .containsExactly("tool_result:call_a", "tool_result:call_b");
        assertThat(messages.get(3).get("content").get(0).get("input"))
                .isEqualTo(parse(TURN_2.get(0).arguments()));
        assertThat(messages.get(4).get("content").get(0).get("tool_use_id").asText())
                .isEqualTo("call_c");
    }

    private static void assertValidBedrockHistory(JsonNode messages) {
        assertThat(messages)
                .extracting(m -> m.get("role").asText())
                .containsExactly("user", "assistant", "user", "assistant", "user");
        JsonNode firstCalls = messages.get(1).get("content");
        assertThat(firstCalls).hasSize(2);
        assertThat(firstCalls.get(0).at("/toolUse/toolUseId").asText()).isEqualTo("call_a");
        assertThat(firstCalls.get(0).at("/toolUse/input"))
                .isEqualTo(parse(TURN_1.get(0).arguments()));
        assertThat(firstCalls.get(1).at("/toolUse/name").asText()).isEqualTo("fetch_url");
        JsonNode firstResults = messages.get(2).get("content");
        assertThat(firstResults)
                .extracting(b -> b.at("/toolResult/toolUseId").asText())
                .containsExactly("call_a", "call_b");
        assertThat(firstResults.get(0).at("/toolResult/content/0/text").asText())
                .isEqualTo("Lyon: 522,969");
        assertThat(messages.get(3).at("/content/0/toolUse/input"))
                .isEqualTo(parse(TURN_2.get(0).arguments()));
        assertThat(messages.get(4).at("/content/0/toolResult/toolUseId").asText())
                .isEqualTo("call_c");
    }

    private CloseableEngineClient client(EngineEndpoint.Kind kind) {
        InferenceWorkerConfig config = InferenceWorkerConfig.defaults()
                .withMaxInflight(4)
                .withEngineTimeout(Duration.ofSeconds(10))
                .withRetryBackoff(Duration.ofMillis(10))
                .withEngineApiKey("test-key");
        if (kind == EngineEndpoint.Kind.BEDROCK) {
            return new BedrockConverseClient(
                    engine.endpoint(kind),
                    config,
                    StaticCredentialsProvider.create(AwsBasicCredentials.create("AKIDEXAMPLE", "test-secret")));
        }
        return EngineClients.create(engine.endpoint(kind), config);
    }

    private static JsonNode parse(String json) {
        try {
            return JSON.readTree(json);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }

    /** The history of a first turn with two parallel calls and their results, for rendering tests. */
    static List<ChatMessage> historyAfterParallelCalls() {
        return List.of(
                Fixtures.user("Find the population of Lyon."),
                ChatMessage.newBuilder()
                        .setRole(Role.ASSISTANT)
                        .setContent(null)
                        .setToolCalls(List.of(
                                new ToolCallRef("call_a", "web_search", "{\"query\":\"Lyon\"}", "h1"),
                                new ToolCallRef("call_b", "fetch_url", "{\"url\":\"https://insee.fr\"}", "h2")))
                        .build(),
                ChatMessage.newBuilder()
                        .setRole(Role.TOOL)
                        .setToolCallId("call_a")
                        .setContent("Lyon: 522,969")
                        .build(),
                ChatMessage.newBuilder()
                        .setRole(Role.TOOL)
                        .setToolCallId("call_b")
                        .setContent("INSEE: 522,969 (2021)")
                        .build());
    }
}
