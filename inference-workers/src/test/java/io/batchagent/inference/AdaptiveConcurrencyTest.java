package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class AdaptiveConcurrencyTest {

    private static final ChatResponse OK = ScriptedEngineClient.answer("{}");

    private final List<CompletableFuture<ChatResponse>> pending = new ArrayList<>();
    private final ScriptedEngineClient engine = new ScriptedEngineClient().answerAllWith(request -> {
        CompletableFuture<ChatResponse> answer = new CompletableFuture<>();
        pending.add(answer);
        return answer;
    });
    private final AtomicReference<EngineMetrics> reading = new AtomicReference<>(engineLoad(0, 0, 0.1));

    /** A fresh reading of the engine's metrics page, as the simulator publishes it. */
    private static EngineMetrics engineLoad(double waiting, double running, double kvUsage) {
        return new EngineMetrics(
                "sim",
                OptionalDouble.empty(),
                OptionalDouble.empty(),
                OptionalDouble.empty(),
                Map.of(
                        "sim:num_requests_waiting",
                        waiting,
                        "sim:num_requests_running",
                        running,
                        "sim:kv_active_usage",
                        kvUsage));
    }

    /** Keeps the limiter's whole limit in flight, then answers every call with {@code answer}. */
    private void roundTrip(AdaptiveConcurrency limiter, ChatResponse answer) {
        int calls = limiter.limit();
        for (int i = 0; i < calls; i++) {
            limiter.complete(new ChatRequest("job-" + i, 1, "m", new byte[] {'{', '}'}));
        }
        List<CompletableFuture<ChatResponse>> now = new ArrayList<>(pending);
        pending.clear();
        now.forEach(call -> call.complete(answer));
    }

    @Test
    void shouldRaiseTheLimitToTheCeilingWhileTheEngineHasNoQueue() {
        AdaptiveConcurrency limiter = AdaptiveConcurrency.adaptive(engine, reading::get, 64, Duration.ofMinutes(1));
        assertThat(limiter.limit()).isEqualTo(16).isEqualTo(AdaptiveConcurrency.initialLimit(64));

        for (int round = 0; round < 10; round++) {
            roundTrip(limiter, OK);
        }

        assertThat(limiter.limit()).isEqualTo(64);
        assertThat(limiter.inFlightSummary().max()).isEqualTo(64);
        assertThat(limiter.inFlightSummary().min()).isEqualTo(1);
    }

    @Test
    void shouldCutTheLimitOncePerReadingWhileTheEngineQueues() {
        AdaptiveConcurrency limiter = AdaptiveConcurrency.adaptive(engine, reading::get, 64, Duration.ofMinutes(1));
        for (int round = 0; round < 10; round++) {
            roundTrip(limiter, OK);
        }

        reading.set(engineLoad(12, 40, 0.6));
        roundTrip(limiter, OK);
        assertThat(limiter.limit())
                .as("one cut for one reading, however many calls end")
                .isEqualTo(51);

        reading.set(engineLoad(9, 40, 0.6));
        roundTrip(limiter, OK);
        assertThat(limiter.limit()).isEqualTo(40);

        reading.set(engineLoad(0, 40, 0.97));
        roundTrip(limiter, OK);
        assertThat(limiter.limit()).as("a nearly full KV pool cuts too").isEqualTo(32);

        reading.set(engineLoad(3, 40, 0.5));
        roundTrip(limiter, OK);
        assertThat(limiter.limit())
                .as("a queue within a tenth of the running batch is tolerated")
                .isGreaterThan(32);
    }

    /** Starts {@code calls} calls at once; they stay in flight until {@link #answerPending} answers them. */
    private void send(AdaptiveConcurrency limiter, int calls) {
        for (int i = 0; i < calls; i++) {
            limiter.complete(new ChatRequest("job-" + i, 1, "m", new byte[] {'{', '}'}));
        }
    }

    /** Answers every call in flight with {@code answer}, one after another. */
    private void answerPending(ChatResponse answer) {
        List<CompletableFuture<ChatResponse>> now = new ArrayList<>(pending);
        pending.clear();
        now.forEach(call -> call.complete(answer));
    }

    private static ChatResponse answeredAfter(long ttftMs) {
        return ChatResponse.answer(
                "{}", List.of(), "stop", TokenUsage.ZERO, java.util.OptionalLong.of(ttftMs), ttftMs + 10);
    }

    @Test
    void shouldRaiseTheLimitOnAnIdleEngineWhileFewCallsAreInFlight() {
        // Given an engine whose metrics show no queue and KV room, and agents that keep only two calls in flight
        // (the rest wait on a slow tool)
        AdaptiveConcurrency limiter = AdaptiveConcurrency.adaptive(engine, reading::get, 128, Duration.ofMinutes(1));
        int start = limiter.limit();

        // When 40 calls are answered, two at a time
        for (int i = 0; i < 20; i++) {
            send(limiter, 2);
            answerPending(OK);
        }

        // Then each answer raised the limit: the engine's room is the evidence, not the share of the limit in use
        assertThat(limiter.limit()).isEqualTo(start + 40);
    }

    @Test
    void shouldHoldTheLimitWhileLittleOfItIsInUseWhereTheEnginePublishesNoMetrics() {
        AdaptiveConcurrency limiter =
                AdaptiveConcurrency.adaptive(engine, () -> EngineMetrics.NONE, 128, Duration.ofMinutes(1));
        int start = limiter.limit();

        for (int i = 0; i < 20; i++) {
            send(limiter, 2);
            answerPending(OK);
        }

        assertThat(limiter.limit())
                .as("AIMD's rule: an unused limit is no evidence that more would be served")
                .isEqualTo(start);
    }

    @Test
    void shouldCutOncePerRoundTripWhileTheEnginesQueueDrains() {
        // Given a limit raised to 60 and that many calls in flight
        AdaptiveConcurrency limiter = AdaptiveConcurrency.adaptive(engine, reading::get, 64, Duration.ofMinutes(1));
        while (limiter.limit() < 60) {
            roundTrip(limiter, OK);
        }
        int before = limiter.limit();
        send(limiter, before);

        // When they end one by one, each with a fresh reading of a queue that drains only as they end
        List<CompletableFuture<ChatResponse>> calls = new ArrayList<>(pending);
        pending.clear();
        for (int i = 0; i < calls.size(); i++) {
            reading.set(engineLoad(10 + calls.size() - i, 40, 0.6));
            calls.get(i).complete(OK);
        }

        // Then the limit was cut once: every one of those calls was sent under the old limit
        assertThat(limiter.limit()).isEqualTo((int) (before * AdaptiveConcurrency.BACKOFF));

        // And a call sent after the cut cuts again while the queue persists
        reading.set(engineLoad(20, 40, 0.6));
        roundTrip(limiter, OK);
        assertThat(limiter.limit())
                .isEqualTo((int) ((int) (before * AdaptiveConcurrency.BACKOFF) * AdaptiveConcurrency.BACKOFF));
    }

    @Test
    void shouldFollowTheTimeToFirstTokenWhereTheEnginePublishesNoMetrics() {
        // Given an API engine (no metrics page) answering at first within 100 ms, the whole limit in use
        AdaptiveConcurrency limiter =
                AdaptiveConcurrency.adaptive(engine, () -> EngineMetrics.NONE, 64, Duration.ofMinutes(1));
        roundTrip(limiter, answeredAfter(100));
        int risen = limiter.limit();
        assertThat(risen).isGreaterThan(AdaptiveConcurrency.initialLimit(64));

        // When its time to first token doubles and more, the limit stops rising
        roundTrip(limiter, answeredAfter(300));
        assertThat(limiter.limit()).isEqualTo(risen);

        // And when it passes four times the baseline, the limit is cut
        roundTrip(limiter, answeredAfter(600));
        assertThat(limiter.limit()).isEqualTo((int) (risen * AdaptiveConcurrency.BACKOFF));
    }

    @Test
    void shouldNotCutOnTimeToFirstTokenWhereTheEngineShowsRoom() {
        AdaptiveConcurrency limiter = AdaptiveConcurrency.adaptive(engine, reading::get, 64, Duration.ofMinutes(1));
        roundTrip(limiter, answeredAfter(100));
        int risen = limiter.limit();

        roundTrip(limiter, answeredAfter(600));

        assertThat(limiter.limit())
                .as("the engine's own queue is the congestion signal where it publishes one")
                .isEqualTo(risen);
    }

    @Test
    void shouldCutOnThrottlingWhereTheEnginePublishesNoMetrics() {
        AdaptiveConcurrency limiter =
                AdaptiveConcurrency.adaptive(engine, () -> EngineMetrics.NONE, 32, Duration.ofMinutes(1));
        for (int round = 0; round < 10; round++) {
            roundTrip(limiter, OK);
        }
        assertThat(limiter.limit()).isEqualTo(32);

        roundTrip(
                limiter,
                ChatResponse.failed(EngineFailure.http(429, "engine answered HTTP 429 Too Many Requests", true), 5));
        assertThat(limiter.limit())
                .as("one cut for a round trip of throttled calls")
                .isEqualTo(25);

        roundTrip(limiter, ChatResponse.failed(EngineFailure.http(503, "engine answered HTTP 503", true), 5));
        assertThat(limiter.limit()).isEqualTo(20);
    }

    @Test
    void shouldKeepAFixedLimit() {
        AdaptiveConcurrency limiter = AdaptiveConcurrency.fixed(engine, 8);
        reading.set(engineLoad(50, 8, 1.0));

        roundTrip(limiter, ChatResponse.failed(EngineFailure.http(429, "throttled", true), 5));

        assertThat(limiter.limit()).isEqualTo(8);
        assertThat(limiter.inFlightSummary()).isEqualTo(new AdaptiveConcurrency.InFlightSummary(1, 4, 8, 8));
    }
}
