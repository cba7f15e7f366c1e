package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.CompactionMode;
import io.batchagent.events.CompactionPolicy;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.events.WarmUpOutcome;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorDialect;
import io.batchagent.simulator.SimulatorOptions;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The SGLang and vLLM dialect checks, run against the engine simulator imitating each engine: the
 * capability probe finds what the engine was started with, the agent's calls carry exactly the fields it
 * accepts in its polarity, nothing is sent that it would reject (the vLLM imitation answers 400 to
 * stream_options without stream and to a priority without priority scheduling, as vLLM does), the warm-up
 * is verified from the engine's cached tokens, and the engine's metrics and cache flush are read the way
 * a real engine's are.
 */
class SimulatorDialectContractTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** An engine as it could be started. */
    enum Engine {
        SGLANG_PRIORITY(EngineEndpoint.Kind.SGLANG, SimulatorDialect.SGLANG, true, true),
        SGLANG_NO_CACHE_REPORT(EngineEndpoint.Kind.SGLANG, SimulatorDialect.SGLANG, true, false),
        VLLM_PRIORITY(EngineEndpoint.Kind.VLLM, SimulatorDialect.VLLM, true, true),
        VLLM_FCFS(EngineEndpoint.Kind.VLLM, SimulatorDialect.VLLM, false, true);

        final EngineEndpoint.Kind kind;
        final SimulatorDialect dialect;
        final boolean priorityScheduling;
        final boolean cacheReport;

        Engine(EngineEndpoint.Kind kind, SimulatorDialect dialect, boolean priorityScheduling, boolean cacheReport) {
            this.kind = kind;
            this.dialect = dialect;
            this.priorityScheduling = priorityScheduling;
            this.cacheReport = cacheReport;
        }
    }

    private EngineSimulator simulator;
    private OpenAiCompatibleClient client;
    private EngineAdmin admin;

    @AfterEach
    void close() {
        if (admin != null) {
            admin.close();
        }
        if (client != null) {
            client.close();
        }
        if (simulator != null) {
            simulator.close();
        }
    }

    @ParameterizedTest
    @EnumSource(Engine.class)
    void shouldSendOnlyWhatTheEngineAcceptsAndWarmThenVerifyThroughIt(Engine engine) throws Exception {
        // Given the simulator started as that engine
        start(engine);
        BatchSpec spec = Fixtures.spec("batch-sim-" + engine.name().toLowerCase(java.util.Locale.ROOT));
        AgentHarness agent = new AgentHarness(spec, client, BatchWarmer.of(client, Duration.ofSeconds(20)));
        EngineMetrics before = admin.scrapeMetrics().get(10, TimeUnit.SECONDS);

        // When an agent runs two turns (the scripted model calls a tool, then answers)
        agent.handle(Fixtures.turn(
                "job-1",
                spec.getBatchId(),
                1,
                List.of(Fixtures.user("Find the population of Lyon.")),
                System.currentTimeMillis()));
        AgentTurn second = AgentHarness.nextTurn(agent.waiting("job-1"), Map.of());
        agent.handle(second);

        // Then the agent succeeded, and the warm-up was verified where the engine reports cached tokens
        AgentResult result = agent.result("job-1");
        assertThat(result.getStatus()).as(String.valueOf(result.getError())).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(result.getWarmUp().getOutcome())
                .isEqualTo(engine.cacheReport ? WarmUpOutcome.VERIFIED : WarmUpOutcome.UNVERIFIED);
        EngineCapabilities capabilities = client.capabilities(spec.getModel()).get();
        assertThat(capabilities.priority())
                .isEqualTo(engine.priorityScheduling || engine.dialect == SimulatorDialect.SGLANG);
        assertThat(capabilities.models()).containsExactly("sim-model");

        // And every body was one the engine accepts: stream_options only when streaming, priority only when accepted
        List<JsonNode> bodies = simulator.capturedRequestBodies().stream()
                .map(SimulatorDialectContractTest::parse)
                .toList();
        List<JsonNode> agentCalls =
                bodies.stream().filter(b -> b.path("stream").asBoolean(false)).toList();
        assertThat(agentCalls).hasSize(2);
        assertThat(bodies)
                .allSatisfy(body -> assertThat(body.has("stream_options"))
                        .isEqualTo(body.path("stream").asBoolean(false)));
        if (capabilities.priority()) {
            // Continuing agents first: SGLang's higher value, vLLM's lower one.
            int newAgent = engine.kind == EngineEndpoint.Kind.VLLM ? 1 : 0;
            int continuing = engine.kind == EngineEndpoint.Kind.VLLM ? 0 : 1;
            assertThat(agentCalls).extracting(b -> b.get("priority").asInt()).containsExactly(newAgent, continuing);
        } else {
            assertThat(agentCalls).noneMatch(b -> b.has("priority"));
        }

        // And the engine's own counters, read as a real engine's are, saw the cached prefix
        EngineMetrics after = admin.scrapeMetrics().get(10, TimeUnit.SECONDS);
        assertThat(after.family()).isEqualTo(engine.kind == EngineEndpoint.Kind.VLLM ? "vllm" : "sglang");
        EngineMetrics.Delta delta = after.since(before);
        assertThat(delta.promptTokens().getAsDouble()).isPositive();
        assertThat(delta.cachedTokens().getAsDouble()).isPositive();
        assertThat(delta.hitRate().getAsDouble()).isBetween(0.0, 1.0);
        if (engine.cacheReport) {
            assertThat(result.getUsage().getCachedPromptTokens()).isPositive();
        } else {
            assertThat(result.getUsage().getCachedPromptTokens()).isZero();
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = Engine.class,
            names = {"SGLANG_PRIORITY", "VLLM_PRIORITY"})
    void shouldFlushTheEnginesPrefixCache(Engine engine) throws Exception {
        start(engine);
        BatchSpec spec = Fixtures.spec("batch-flush");
        AgentHarness agent = new AgentHarness(spec, client, BatchWarmer.of(client, Duration.ofSeconds(20)));
        agent.handle(Fixtures.turn(
                "job-1", spec.getBatchId(), 1, List.of(Fixtures.user("Lyon?")), System.currentTimeMillis()));

        EngineAdmin.CacheFlush flush = admin.flushCache(Duration.ofSeconds(5)).get(10, TimeUnit.SECONDS);

        assertThat(flush.flushed()).as(flush.detail()).isTrue();
        // Nothing cached any more: the same warm-up prompt now finds no prefix.
        ChatResponse probe = client.complete(
                        ChatRequest.of("warm-up:again", 0, AgentPrompt.warmUp(PreparedBatch.of(spec))))
                .get(10, TimeUnit.SECONDS);
        assertThat(probe.usage().cachedPromptTokens()).isZero();
    }

    @ParameterizedTest
    @EnumSource(
            value = Engine.class,
            names = {"SGLANG_PRIORITY", "VLLM_PRIORITY"})
    void shouldEndAJobContextExhaustedWithTheEnginesOwnMessageWhenItRefusesThePrompt(Engine engine) {
        start(engine, SimulatorOptions.builder().contextTokens(400));
        BatchSpec spec = Fixtures.spec("batch-window");
        AgentHarness agent = new AgentHarness(spec, client, BatchWarmer.disabled());

        agent.handle(Fixtures.turn(
                "job-1",
                spec.getBatchId(),
                1,
                List.of(Fixtures.user("Find the population of Lyon. " + "Context. ".repeat(400))),
                System.currentTimeMillis()));

        AgentResult result = agent.result("job-1");
        assertThat(result.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.CONTEXT_EXHAUSTED);
        assertThat(result.getError().getMessage())
                .startsWith("the engine refused the prompt of turn 1 as longer than " + "the model's context window")
                .contains(
                        engine.dialect == SimulatorDialect.VLLM
                                ? "This model's maximum context length is 400 tokens"
                                : "is longer than the model's context length (400 tokens)");
    }

    @ParameterizedTest
    @EnumSource(
            value = Engine.class,
            names = {"SGLANG_PRIORITY", "VLLM_PRIORITY"})
    void shouldSummarizeOldToolResultsThroughTheEngineAndFinishALongAgent(Engine engine) {
        start(engine, SimulatorOptions.builder().toolTurns(8).contextTokens(8_192));
        BatchSpec spec = BatchSpec.newBuilder(Fixtures.spec("batch-long"))
                .setMaxTurns(10)
                .setContextTokens(8_192)
                .setCompaction(CompactionPolicy.newBuilder()
                        .setMode(CompactionMode.SUMMARIZE)
                        .build())
                .build();
        AgentHarness agent = new AgentHarness(spec, client, BatchWarmer.disabled());

        AgentTurn turn = Fixtures.turn(
                "job-1",
                spec.getBatchId(),
                1,
                List.of(Fixtures.user("Find the population of Lyon.")),
                System.currentTimeMillis());
        for (int t = 1; t <= 8; t++) {
            agent.handle(turn);
            AgentTurn waiting = agent.waiting("job-1");
            Map<String, String> outputs = new java.util.HashMap<>();
            waiting.getPendingCalls()
                    .forEach(call ->
                            outputs.put(call.getId(), ("result of turn " + waiting.getTurn() + " ").repeat(300)));
            turn = AgentHarness.nextTurn(waiting, outputs);
        }
        agent.handle(turn);

        AgentResult result = agent.result("job-1");
        assertThat(result.getStatus()).as(String.valueOf(result.getError())).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(result.getTurns()).isEqualTo(9);
        assertThat(result.getCompactions())
                .isNotEmpty()
                .allSatisfy(c -> assertThat(c.getMode()).as(c.getDetail()).isEqualTo(CompactionMode.SUMMARIZE));
        assertThat(result.getUsage().getModelCalls())
                .isEqualTo(9 + result.getCompactions().size());
    }

    private void start(Engine engine) {
        start(engine, SimulatorOptions.builder());
    }

    private void start(Engine engine, SimulatorOptions.Builder options) {
        simulator = EngineSimulator.start(options.dialect(engine.dialect)
                .priorityScheduling(engine.priorityScheduling)
                .cacheReport(engine.cacheReport)
                .captureRequests(true)
                .build());
        URI base = URI.create(simulator.baseUrl());
        EngineEndpoint endpoint =
                EngineEndpoint.parse(engine.kind.scheme() + "://" + base.getHost() + ":" + base.getPort());
        InferenceWorkerConfig config = InferenceWorkerConfig.defaults()
                .withMaxInflight(4)
                .withEngineTimeout(Duration.ofSeconds(10))
                .withRetryBackoff(Duration.ofMillis(10));
        client = new OpenAiCompatibleClient(endpoint, config);
        admin = new EngineAdmin(endpoint, config);
    }

    private static JsonNode parse(String body) {
        try {
            return JSON.readTree(body);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
    }
}
