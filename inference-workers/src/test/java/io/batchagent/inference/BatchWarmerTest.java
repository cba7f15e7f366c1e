package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.AgentResult;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.JobStatus;
import io.batchagent.events.WarmUpOutcome;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;
import mockwebserver3.MockResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Warm then verify, through the turn handler and a real client against a local engine: the batch's
 * first turns are held until a probe sees the shared prefix cached, and a batch whose warm-up cannot be
 * verified proceeds after the bound, its results saying so.
 */
class BatchWarmerTest {

    private static final String ANSWER =
            OpenAiChunks.contentStream("{\"city\":\"Lyon\",\"population\":522969}", 1900, 1800);

    private final BatchSpec spec = Fixtures.spec("batch-warm");
    private final AtomicInteger warmCalls = new AtomicInteger();
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
    void shouldHoldTheBatchsFirstTurnsUntilAProbeSeesThePrefixCached() {
        // Given an engine whose cache shows the prefix only from the third warm-up call on
        start(call -> call < 3
                ? EngineScripts.warmAnswer(EngineEndpoint.Kind.SGLANG, 1800, 0)
                : EngineScripts.warmAnswer(EngineEndpoint.Kind.SGLANG, 1800, 1792));
        AgentHarness agents = new AgentHarness(spec, client, BatchWarmer.of(client, Duration.ofSeconds(20)));

        // When two agents of the batch arrive together
        CompletableFuture<Void> first = agents.handleAsync(turn("job-1"));
        CompletableFuture<Void> second = agents.handleAsync(turn("job-2"));
        CompletableFuture.allOf(first, second).orTimeout(30, TimeUnit.SECONDS).join();

        // Then the batch was warmed once, verified by the third call, before either agent's call
        List<FakeEngine.Received> chats = engine.chats();
        assertThat(chats)
                .extracting(BatchWarmerTest::kind)
                .containsExactly("warm-up", "warm-up", "warm-up", "agent", "agent");
        assertThat(chats.get(0).json().get("messages")).hasSize(1);
        for (String job : List.of("job-1", "job-2")) {
            AgentResult result = agents.result(job);
            assertThat(result.getStatus()).isEqualTo(JobStatus.SUCCEEDED);
            assertThat(result.getWarmUp().getOutcome()).isEqualTo(WarmUpOutcome.VERIFIED);
            assertThat(result.getWarmUp().getDetail()).contains("1792 of 1800 prompt tokens cached");
        }
        WarmUpReport report = agents.handler.warmUp(spec.getBatchId()).orElseThrow();
        assertThat(report.calls()).isEqualTo(3);
        assertThat(report.verified()).isTrue();
    }

    @Test
    void shouldLetTheBatchProceedAfterTheBoundWhenNoProbeSeesThePrefixCached() {
        // Given an engine that never shows the prefix cached
        start(call -> EngineScripts.warmAnswer(EngineEndpoint.Kind.SGLANG, 1800, 0));
        AgentHarness agents = new AgentHarness(spec, client, BatchWarmer.of(client, Duration.ofMillis(600)));

        // When an agent of the batch arrives
        agents.handle(turn("job-1"));

        // Then it ran after the bounded warm-up, and its result says the batch could not be warmed
        AgentResult result = agents.result("job-1");
        assertThat(result.getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(result.getWarmUp().getOutcome()).isEqualTo(WarmUpOutcome.NOT_CACHED);
        assertThat(result.getWarmUp().getDetail())
                .contains("no probe saw the prefix cached within 600 ms")
                .contains("0 of 1800 prompt tokens cached");
        List<FakeEngine.Received> chats = engine.chats();
        assertThat(chats.get(chats.size() - 1))
                .extracting(BatchWarmerTest::kind)
                .isEqualTo("agent");
        assertThat(chats).filteredOn(r -> kind(r).equals("warm-up")).hasSizeGreaterThan(1);
    }

    @Test
    void shouldNotTryToVerifyOnAnEngineThatReportsNoCachedTokens() {
        start(call -> FakeEngine.json(200, OpenAiChunks.completion("O", 1800, -1, 1)));
        AgentHarness agents = new AgentHarness(spec, client, BatchWarmer.of(client, Duration.ofSeconds(20)));

        agents.handle(turn("job-1"));

        AgentResult result = agents.result("job-1");
        assertThat(result.getWarmUp().getOutcome()).isEqualTo(WarmUpOutcome.UNVERIFIED);
        assertThat(result.getWarmUp().getDetail())
                .contains("--enable-prompt-tokens-details")
                .contains("--enable-cache-report");
        assertThat(engine.chats()).extracting(BatchWarmerTest::kind).containsExactly("warm-up", "agent");
    }

    @Test
    void shouldProceedAndSaySoWhenTheWarmUpCallFails() {
        start(call -> FakeEngine.json(400, "{\"error\":{\"message\":\"max_tokens must be at least 1\"}}"));
        AgentHarness agents = new AgentHarness(spec, client, BatchWarmer.of(client, Duration.ofSeconds(20)));

        agents.handle(turn("job-1"));

        AgentResult result = agents.result("job-1");
        assertThat(result.getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(result.getWarmUp().getOutcome()).isEqualTo(WarmUpOutcome.FAILED);
        assertThat(result.getWarmUp().getDetail()).contains("HTTP 400").contains("max_tokens must be at least 1");
    }

    @Test
    void shouldStampNoWarmUpWhenItIsOff() {
        start(call -> EngineScripts.warmAnswer(EngineEndpoint.Kind.SGLANG, 1800, 1792));
        AgentHarness agents = new AgentHarness(spec, client, BatchWarmer.disabled());

        agents.handle(turn("job-1"));

        assertThat(agents.result("job-1").getWarmUp()).isNull();
        assertThat(engine.chats()).extracting(BatchWarmerTest::kind).containsExactly("agent");
    }

    /** Warm-up calls (not streamed, one token) answered by {@code warmUps} given their number; agent calls with an answer. */
    private void start(IntFunction<MockResponse> warmUps) {
        engine = new FakeEngine(request -> {
            if (!request.isChat()) {
                return FakeEngine.json(404, "{\"error\":{\"message\":\"not here\"}}");
            }
            return kind(request).equals("warm-up")
                    ? warmUps.apply(warmCalls.incrementAndGet())
                    : FakeEngine.sse(ANSWER);
        });
        client = new OpenAiCompatibleClient(
                engine.endpoint(EngineEndpoint.Kind.OPENAI_COMPATIBLE),
                InferenceWorkerConfig.defaults()
                        .withMaxInflight(4)
                        .withEngineTimeout(Duration.ofSeconds(10))
                        .withRetryBackoff(Duration.ofMillis(10)));
    }

    private static String kind(FakeEngine.Received request) {
        return request.body().contains("\"stream\":false") && request.body().contains("\"max_tokens\":1,")
                ? "warm-up"
                : "agent";
    }

    private io.batchagent.events.AgentTurn turn(String jobId) {
        return Fixtures.turn(
                jobId,
                spec.getBatchId(),
                1,
                List.of(Fixtures.user("Find the population of Lyon.")),
                System.currentTimeMillis());
    }
}
