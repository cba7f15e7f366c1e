package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class OutageGuardTest {

    private static final ChatResponse DOWN = ChatResponse.failed(
            EngineFailure.http(
                    503, "engine answered HTTP 503 Service Unavailable (3 attempts): simulated outage", true),
            5);
    private static final ChatResponse OK = ScriptedEngineClient.answer("{\"city\":\"x\",\"population\":1}");

    private final AtomicBoolean engineDown = new AtomicBoolean();
    private final ScriptedEngineClient engine = new ScriptedEngineClient()
            .answerAllWith(request -> CompletableFuture.completedFuture(engineDown.get() ? DOWN : OK));
    private OutageGuard guard;

    @AfterEach
    void tearDown() {
        if (guard != null) {
            guard.close();
        }
    }

    private OutageGuard guard(Duration budget) {
        guard = new OutageGuard(
                engine,
                FlowControl.defaults()
                        .withOutageBudget(budget)
                        .withProbeDelays(Duration.ofMillis(20), Duration.ofMillis(100)));
        return guard;
    }

    private static ChatRequest call(String jobId) {
        return new ChatRequest(jobId, 1, "m", "{\"model\":\"m\",\"messages\":[]}".getBytes(StandardCharsets.UTF_8));
    }

    private long sent(String jobId) {
        return engine.jobsInCallOrder().stream().filter(jobId::equals).count();
    }

    @Test
    void shouldReturnAPerRequestRejectionAtOnceWithoutProbing() {
        engine.answer(
                "bad",
                ChatResponse.failed(
                        new EngineFailure(
                                OptionalInt.of(400),
                                "engine answered HTTP 400 Bad Request: maximum context length is 32768 tokens",
                                false),
                        3));
        guard(Duration.ofMinutes(1));

        ChatResponse response = guard.complete(call("bad")).join();

        assertThat(response.failure().message()).contains("maximum context length");
        assertThat(engine.jobsInCallOrder()).containsExactly("bad");
        assertThat(guard.state()).isEqualTo(CircuitBreaker.State.CLOSED);
    }

    @Test
    void shouldFailAloneAServerErrorThatAProbeShowsIsTheRequestsOwn() {
        engine.answer(
                "marked",
                ChatResponse.failed(EngineFailure.http(500, "engine answered HTTP 500: simulated failure", false), 3));
        guard(Duration.ofMinutes(1));

        ChatResponse response = guard.complete(call("marked")).join();

        assertThat(response.failure().isUnavailable()).isFalse();
        assertThat(response.failure().message()).contains("HTTP 500");
        assertThat(engine.jobsInCallOrder()).containsExactly("marked", "engine-probe");
        assertThat(guard.state()).isEqualTo(CircuitBreaker.State.CLOSED);
        assertThat(guard.admitting()).isTrue();
    }

    @Test
    void shouldPauseThroughAnOutageAndSendEachWaitingCallAgainOnce() {
        guard(Duration.ofMinutes(1));
        engineDown.set(true);

        CompletableFuture<ChatResponse> first = guard.complete(call("job-1"));
        await().until(() -> guard.state() != CircuitBreaker.State.CLOSED);
        CompletableFuture<ChatResponse> later = guard.complete(call("job-2"));

        assertThat(guard.admitting()).isFalse();
        await().until(() ->
                engine.jobsInCallOrder().stream().filter("engine-probe"::equals).count() >= 3);
        assertThat(first).isNotDone();
        assertThat(later).isNotDone();
        assertThat(sent("job-2"))
                .as("a call started during the outage is not sent")
                .isZero();

        engineDown.set(false);

        assertThat(first.join().isFailure()).isFalse();
        assertThat(later.join().isFailure()).isFalse();
        assertThat(sent("job-1")).as("failed once, answered once").isEqualTo(2);
        assertThat(sent("job-2")).isEqualTo(1);
        assertThat(guard.state()).isEqualTo(CircuitBreaker.State.CLOSED);
        assertThat(guard.admitting()).isTrue();
        assertThat(guard.pausedMillis()).isPositive();
    }

    @Test
    void shouldEndCallsEngineUnavailableOnceTheOutageOutlastsItsBudget() {
        guard(Duration.ofMillis(300));
        engineDown.set(true);

        ChatResponse waited = guard.complete(call("job-1")).join();

        assertThat(waited.failure().isUnavailable()).isTrue();
        assertThat(waited.failure().message())
                .contains("outage budget of 300 ms")
                .contains("simulated outage");
        assertThat(guard.admitting())
                .as("past the budget, new turns are admitted to fail at once")
                .isTrue();

        ChatResponse after = guard.complete(call("job-2")).join();
        assertThat(after.failure().isUnavailable()).isTrue();
        assertThat(sent("job-2")).isZero();
    }
}
