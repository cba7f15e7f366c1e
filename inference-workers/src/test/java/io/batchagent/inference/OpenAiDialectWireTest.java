package io.batchagent.inference;

import static io.batchagent.inference.FakeEngine.json;
import static io.batchagent.inference.FakeEngine.sse;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.Role;
import io.batchagent.events.ToolCallRef;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import mockwebserver3.MockResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The exact chat completions request each OpenAI-compatible dialect sends (field names and order, priority
 * polarity, nvext keys, stream_options, response_format, headers), against a local server answering in
 * the engine's format, capability probe included.
 */
class OpenAiDialectWireTest {

    private static final String MODEL = "qwen2.5-32b";
    private static final String VLLM_PRIORITY_REJECTED = "Got priority 1 but Priority scheduling is not enabled.";
    private static final String TOOL_STREAM = OpenAiChunks.toolCallStream(
            new String[][] {
                {"call_a", "web_search", "{\"query\":\"Lyon population\"}"},
                {"call_b", "fetch_url", "{\"url\":\"https://insee.fr\"}"}
            },
            1873,
            1792);

    private final BatchSpec spec = Fixtures.spec("batch-wire");
    private FakeEngine engine;
    private OpenAiCompatibleClient client;

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
    void shouldSendSglangItsPriorityHigherFirstOnceTheProbeSawItAccepted() throws Exception {
        start(EngineEndpoint.Kind.SGLANG, engineAnswering(true, null, sse(TOOL_STREAM)));

        ChatResponse first = call("job-new", 1, user("Lyon?"), 4, OptionalInt.empty());
        ChatResponse later = call("job-continuing", 2, history(), 4, OptionalInt.empty());

        JsonNode probe = probes().get(0).json();
        assertThat(probe.toString())
                .isEqualTo("{\"model\":\"qwen2.5-32b\",\"messages\":[{\"role\":\"user\",\"content\":\"ping\"}],"
                        + "\"max_tokens\":1,\"stream\":false,\"priority\":1}");
        List<FakeEngine.Received> chats = engine.chats();
        assertThat(chats).hasSize(2);
        JsonNode newAgent = chats.get(0).json();
        assertThat(fieldNames(newAgent))
                .containsExactly(
                        "model",
                        "stream",
                        "stream_options",
                        "max_tokens",
                        "temperature",
                        "tools",
                        "tool_choice",
                        "messages",
                        "priority");
        assertThat(newAgent.get("stream").asBoolean()).isTrue();
        assertThat(newAgent.at("/stream_options/include_usage").asBoolean()).isTrue();
        assertThat(newAgent.get("tool_choice").asText()).isEqualTo("auto");
        assertThat(newAgent.get("priority").asInt()).isEqualTo(0);
        assertThat(chats.get(1).json().get("priority").asInt()).isEqualTo(1);
        assertThat(newAgent.has("response_format")).isFalse();
        assertThat(first.toolCalls())
                .containsExactly(
                        new RequestedToolCall("call_a", "web_search", "{\"query\":\"Lyon population\"}"),
                        new RequestedToolCall("call_b", "fetch_url", "{\"url\":\"https://insee.fr\"}"));
        assertThat(first.usage()).isEqualTo(new TokenUsage(1873, 1792, 20));
        assertThat(later.failure()).isNull();
        assertThat(client.capabilities(MODEL).get().priority()).isTrue();
        assertThat(client.capabilities(MODEL).get().metricsFamily()).isEqualTo("sglang");
        assertThat(client.capabilities(MODEL).get().reportsCachedTokens()).isEqualTo(EngineCapabilities.Report.YES);
    }

    @Test
    void shouldNeverSendVllmAPriorityWhenItWasStartedWithoutPriorityScheduling() throws Exception {
        start(EngineEndpoint.Kind.VLLM, engineAnswering(false, VLLM_PRIORITY_REJECTED, sse(TOOL_STREAM)));

        ChatResponse response = call("job-1", 2, history(), 4, OptionalInt.empty());

        assertThat(response.failure()).isNull();
        assertThat(probes())
                .singleElement()
                .satisfies(probe ->
                        assertThat(probe.json().get("priority").asInt()).isEqualTo(1));
        assertThat(engine.chats())
                .singleElement()
                .satisfies(chat -> assertThat(chat.json().has("priority")).isFalse());
        EngineCapabilities capabilities = client.capabilities(MODEL).get();
        assertThat(capabilities.priority()).isFalse();
        assertThat(capabilities.notes()).contains(VLLM_PRIORITY_REJECTED);
    }

    @Test
    void shouldProbeAgainWhenTheEngineDidNotAnswerTheProbe() throws Exception {
        // Given an engine too busy to answer the first probe
        java.util.concurrent.atomic.AtomicInteger probeCalls = new java.util.concurrent.atomic.AtomicInteger();
        Function<FakeEngine.Received, MockResponse> healthy = engineAnswering(true, null, sse(TOOL_STREAM));
        start(
                EngineEndpoint.Kind.SGLANG,
                request -> FakeEngine.isProbe(request) && probeCalls.incrementAndGet() == 1
                        ? json(503, "{\"error\":{\"message\":\"server overloaded\"}}")
                        : healthy.apply(request));

        // When two calls are made one after the other
        call("job-1", 2, history(), 4, OptionalInt.empty());
        call("job-2", 2, history(), 4, OptionalInt.empty());

        // Then the first went without a priority, and the second, after a new probe, with it
        assertThat(probes()).hasSize(2);
        assertThat(engine.chats().get(0).json().has("priority")).isFalse();
        assertThat(engine.chats().get(1).json().get("priority").asInt()).isEqualTo(1);
    }

    @Test
    void shouldSendVllmItsPriorityLowerFirstWhenAccepted() throws Exception {
        start(EngineEndpoint.Kind.VLLM, engineAnswering(true, null, sse(TOOL_STREAM)));

        call("job-new", 1, user("Lyon?"), 4, OptionalInt.empty());
        call("job-continuing", 3, history(), 4, OptionalInt.empty());

        List<FakeEngine.Received> chats = engine.chats();
        assertThat(chats.get(0).json().get("priority").asInt()).as("new agent").isEqualTo(1);
        assertThat(chats.get(1).json().get("priority").asInt())
                .as("continuing agent, runs first")
                .isEqualTo(0);
    }

    @Test
    void shouldConstrainTheFinalAnswerWithResponseFormatOnlyWhenTheBatchOffersNoTools() throws Exception {
        start(
                EngineEndpoint.Kind.SGLANG,
                engineAnswering(
                        true,
                        null,
                        sse(OpenAiChunks.contentStream("{\"city\":\"Lyon\",\"population\":522969}", 90, 0))));
        BatchSpec noTools = BatchSpec.newBuilder(spec)
                .setBatchId("batch-no-tools")
                .setTools(List.of())
                .build();
        BatchSpec promptOnly = BatchSpec.newBuilder(noTools)
                .setBatchId("batch-prompt-only")
                .setOptions(Map.of(OpenAiDialect.STRUCTURED_OUTPUT_OPTION, "prompt"))
                .build();

        call(noTools, "job-1", 1, user("Lyon?"), OptionalInt.empty());
        call(spec, "job-2", 1, user("Lyon?"), OptionalInt.empty());
        call(promptOnly, "job-3", 1, user("Lyon?"), OptionalInt.empty());

        List<FakeEngine.Received> chats = engine.chats();
        JsonNode constrained = chats.get(0).json();
        assertThat(fieldNames(constrained))
                .containsExactly(
                        "model",
                        "stream",
                        "stream_options",
                        "max_tokens",
                        "temperature",
                        "response_format",
                        "messages",
                        "priority");
        assertThat(constrained.get("response_format").toString())
                .isEqualTo(
                        "{\"type\":\"json_schema\",\"json_schema\":"
                                + "{\"name\":\"final_answer\",\"schema\":{\"properties\":{\"city\":{\"type\":\"string\"},\"population\":"
                                + "{\"minimum\":0,\"type\":\"integer\"}},\"required\":[\"city\",\"population\"],\"type\":\"object\"}}}");
        assertThat(chats.get(1).json().has("response_format"))
                .as("never with a tool constraint")
                .isFalse();
        assertThat(chats.get(2).json().has("response_format"))
                .as("structured_output=prompt")
                .isFalse();
        // The schema is in the system prompt either way.
        assertThat(chats.get(2).json().at("/messages/0/content").asText())
                .contains(SharedPrefix.SCHEMA_INSTRUCTION.strip());
    }

    @Test
    void shouldSendDynamoAgentHintsUnderNvextWithItsSessionHeader() throws Exception {
        start(EngineEndpoint.Kind.DYNAMO, engineAnswering(true, null, sse(TOOL_STREAM)));

        call("job-a", 2, history(), 4, OptionalInt.of(120));
        call("job-b", 4, history(), 4, OptionalInt.empty());

        assertThat(probes())
                .singleElement()
                .satisfies(probe -> assertThat(probe.json().get("nvext").toString())
                        .isEqualTo("{\"agent_hints\":{\"priority\":0,\"osl\":1,\"speculative_prefill\":false}}"));
        List<FakeEngine.Received> chats = engine.chats();
        JsonNode continuing = chats.get(0).json();
        assertThat(fieldNames(continuing))
                .containsExactly(
                        "model",
                        "stream",
                        "stream_options",
                        "max_tokens",
                        "temperature",
                        "tools",
                        "tool_choice",
                        "messages",
                        "nvext");
        assertThat(continuing.get("nvext").toString())
                .isEqualTo("{\"agent_hints\":{\"priority\":1,\"osl\":120,\"speculative_prefill\":true}}");
        assertThat(chats.get(0).header(OpenAiDialect.DYNAMO_SESSION_HEADER)).isEqualTo("job-a");
        // Last turn: no turn left to prefill for; no measured length: no osl.
        assertThat(chats.get(1).json().get("nvext").toString())
                .isEqualTo("{\"agent_hints\":{\"priority\":1,\"speculative_prefill\":false}}");
        assertThat(chats.get(1).header(OpenAiDialect.DYNAMO_SESSION_HEADER)).isEqualTo("job-b");
        assertThat(continuing.has("priority")).isFalse();
    }

    @Test
    void shouldSendNoNvextToADynamoThatRejectsIt() throws Exception {
        start(EngineEndpoint.Kind.DYNAMO, engineAnswering(false, "unknown field `agent_hints`", sse(TOOL_STREAM)));

        ChatResponse response = call("job-a", 2, history(), 4, OptionalInt.of(120));

        assertThat(response.failure()).isNull();
        assertThat(engine.chats())
                .singleElement()
                .satisfies(chat -> assertThat(chat.json().has("nvext")).isFalse());
        assertThat(client.capabilities(MODEL).get().nvext()).isFalse();
    }

    @Test
    void shouldReadDynamosWholeToolCallsOnceAlsoWhenItAnnouncesThemEarly() throws Exception {
        // Dynamo's parser emits each complete call in one delta; with --enable-streaming-tool-dispatch it also
        // sends a named "tool_call_dispatch" event before the finish reason. Neither may drop or double a call.
        String whole = "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"qwen2.5-32b\","
                + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":["
                + "{\"index\":0,\"id\":\"call-d1\",\"type\":\"function\",\"function\":{\"name\":\"web_search\","
                + "\"arguments\":\"{\\\"query\\\":\\\"Lyon\\\"}\"}},"
                + "{\"index\":1,\"id\":\"call-d2\",\"type\":\"function\",\"function\":{\"name\":\"fetch_url\","
                + "\"arguments\":\"{\\\"url\\\":\\\"https://insee.fr\\\"}\"}}]},\"finish_reason\":null}]}";
        String stream = "event: tool_call_dispatch\ndata: {\"tool_call\":{\"id\":\"call-d1\",\"type\":\"function\","
                + "\"function\":{\"name\":\"web_search\",\"arguments\":\"{\\\"query\\\":\\\"Lyon\\\"}\"}}}\n\n"
                + FakeEngine.dataEvents(whole, OpenAiChunks.finish("tool_calls"), OpenAiChunks.usage(300, 256, 30));
        start(EngineEndpoint.Kind.DYNAMO, engineAnswering(true, null, sse(stream)));

        ChatResponse response = call("job-d", 1, user("Lyon?"), 4, OptionalInt.empty());

        assertThat(response.toolCalls())
                .containsExactly(
                        new RequestedToolCall("call-d1", "web_search", "{\"query\":\"Lyon\"}"),
                        new RequestedToolCall("call-d2", "fetch_url", "{\"url\":\"https://insee.fr\"}"));
        assertThat(response.finishReason()).isEqualTo("tool_calls");
    }

    @Test
    void shouldSendTheOpenAiApiMaxCompletionTokensAndThePromptCacheKeyAndNoProbeCall() throws Exception {
        start(
                EngineEndpoint.Kind.OPENAI,
                engineAnswering(true, null, sse(TOOL_STREAM)),
                config().withEngineApiKey("sk-test-openai"));

        call("job-1", 2, history(), 4, OptionalInt.of(50));

        JsonNode body = engine.chats().get(0).json();
        assertThat(fieldNames(body))
                .containsExactly(
                        "model",
                        "stream",
                        "stream_options",
                        "max_completion_tokens",
                        "temperature",
                        "tools",
                        "tool_choice",
                        "messages",
                        "prompt_cache_key");
        assertThat(body.get("prompt_cache_key").asText()).isEqualTo("batch-wire");
        assertThat(engine.chats().get(0).header("Authorization")).isEqualTo("Bearer sk-test-openai");
        assertThat(probes()).isEmpty();
        assertThat(engine.received()).extracting(FakeEngine.Received::path).doesNotContain("/metrics");
    }

    @Test
    void shouldWarmWithoutStreamOptionsOrHintsThroughTheSameEndpoint() throws Exception {
        start(EngineEndpoint.Kind.VLLM, engineAnswering(true, null, json(200, OpenAiChunks.completion("", 480, 0, 1))));

        ChatResponse response = client.complete(
                        ChatRequest.of("warm-up:batch-wire", 0, AgentPrompt.warmUp(PreparedBatch.of(spec))))
                .get(10, TimeUnit.SECONDS);

        assertThat(response.failure()).isNull();
        JsonNode body = engine.chats().get(0).json();
        assertThat(fieldNames(body))
                .containsExactly("model", "stream", "max_tokens", "temperature", "tools", "tool_choice", "messages");
        assertThat(body.get("stream").asBoolean()).isFalse();
        assertThat(body.get("max_tokens").asInt()).isEqualTo(1);
        assertThat(body.get("messages")).hasSize(1);
        assertThat(body.at("/messages/0/role").asText()).isEqualTo("system");
        // The warm-up's prefix is the agents' prefix up to the end of the system message.
        String agentBody = new String(
                OpenAiDialect.VLLM.render(
                        AgentPrompt.forAgent(PreparedBatch.of(spec), user("x"), SchedulingHints.NONE),
                        client.capabilities(MODEL).get()),
                java.nio.charset.StandardCharsets.UTF_8);
        String tools = body.get("tools").toString();
        assertThat(agentBody).contains(tools).contains(body.at("/messages/0").toString());
    }

    private void start(EngineEndpoint.Kind kind, Function<FakeEngine.Received, MockResponse> handler) {
        start(kind, handler, config());
    }

    private void start(
            EngineEndpoint.Kind kind,
            Function<FakeEngine.Received, MockResponse> handler,
            InferenceWorkerConfig config) {
        engine = new FakeEngine(handler);
        client = new OpenAiCompatibleClient(engine.endpoint(kind), config);
    }

    private static InferenceWorkerConfig config() {
        return InferenceWorkerConfig.defaults()
                .withMaxInflight(4)
                .withEngineTimeout(Duration.ofSeconds(10))
                .withRetryBackoff(Duration.ofMillis(10));
    }

    /**
     * An engine that lists the model, exposes SGLang-style metrics, answers probes (rejecting an optional field
     * with HTTP 400 and {@code rejection} unless {@code acceptsOptionalFields}) and answers agents with {@code answer}.
     */
    static Function<FakeEngine.Received, MockResponse> engineAnswering(
            boolean acceptsOptionalFields, String rejection, MockResponse answer) {
        return request -> {
            if (request.path().equals("/v1/models")) {
                return json(200, "{\"object\":\"list\",\"data\":[{\"id\":\"" + MODEL + "\",\"object\":\"model\"}]}");
            }
            if (request.path().equals("/metrics")) {
                return new MockResponse.Builder()
                        .code(200)
                        .addHeader("Content-Type", "text/plain; version=0.0.4")
                        .body(
                                "# TYPE sglang:cached_tokens_total counter\nsglang:cached_tokens_total{model_name=\"q\"} 42\n")
                        .build();
            }
            if (FakeEngine.isProbe(request)) {
                boolean optional = request.body().contains("\"priority\"")
                        || request.body().contains("\"nvext\"");
                if (optional && !acceptsOptionalFields) {
                    return json(
                            400,
                            "{\"error\":{\"message\":\"" + rejection + "\",\"type\":\"BadRequestError\","
                                    + "\"param\":null,\"code\":400}}");
                }
                return json(200, OpenAiChunks.completion("p", 9, 0, 1));
            }
            return answer;
        };
    }

    private List<FakeEngine.Received> probes() {
        return engine.received().stream().filter(FakeEngine::isProbe).toList();
    }

    private ChatResponse call(String jobId, int turn, List<ChatMessage> messages, int maxTurns, OptionalInt osl)
            throws Exception {
        BatchSpec batch = BatchSpec.newBuilder(spec).setMaxTurns(maxTurns).build();
        return call(batch, jobId, turn, messages, osl);
    }

    private ChatResponse call(BatchSpec batch, String jobId, int turn, List<ChatMessage> messages, OptionalInt osl)
            throws Exception {
        AgentPrompt prompt = AgentPrompt.forAgent(
                PreparedBatch.of(batch), messages, SchedulingHints.forTurn(turn, batch.getMaxTurns(), osl));
        return client.complete(ChatRequest.of(jobId, turn, prompt)).get(10, TimeUnit.SECONDS);
    }

    private static List<ChatMessage> user(String text) {
        return List.of(Fixtures.user(text));
    }

    /** A first turn's question, the model's tool call and its result. */
    static List<ChatMessage> history() {
        return List.of(
                Fixtures.user("Find the population of Lyon."),
                ChatMessage.newBuilder()
                        .setRole(Role.ASSISTANT)
                        .setContent(null)
                        .setToolCalls(List.of(new ToolCallRef("call_1", "web_search", "{\"query\":\"Lyon\"}", "h")))
                        .build(),
                ChatMessage.newBuilder()
                        .setRole(Role.TOOL)
                        .setToolCallId("call_1")
                        .setContent("Lyon: 522,969")
                        .build());
    }

    static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        Iterator<String> it = node.fieldNames();
        it.forEachRemaining(names::add);
        return names;
    }
}
