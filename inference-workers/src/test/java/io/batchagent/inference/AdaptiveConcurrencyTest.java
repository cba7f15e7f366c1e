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
        return new EngineMetrics("sim", OptionalDouble.empty(), OptionalDouble.empty(), OptionalDouble.empty(),
                Map.of("sim:num_requests_waiting", waiting, "sim:num_requests_running", running,
                        "sim:kv_active_usage", kvUsage));
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
        assertThat(limiter.limit()).as("one cut for one reading, however many calls end").isEqualTo(51);

        reading.set(engineLoad(9, 40, 0.6));
        roundTrip(limiter, OK);
        assertThat(limiter.limit()).isEqualTo(40);

        reading.set(engineLoad(0, 40, 0.97));
        roundTrip(limiter, OK);
        assertThat(limiter.limit()).as("a nearly full KV pool cuts too").isEqualTo(32);

        reading.set(engineLoad(3, 40, 0.5));
        roundTrip(limiter, OK);
        assertThat(limiter.limit()).as("a queue within a tenth of the running batch is tolerated").isGreaterThan(32);
    }

    @Test
    void shouldCutOnThrottlingWhereTheEnginePublishesNoMetrics() {
        AdaptiveConcurrency limiter = AdaptiveConcurrency.adaptive(engine, () -> EngineMetrics.NONE, 32, Duration.ofMinutes(1));
        for (int round = 0; round < 10; round++) {
            roundTrip(limiter, OK);
        }
        assertThat(limiter.limit()).isEqualTo(32);

        roundTrip(limiter, ChatResponse.failed(EngineFailure.http(429, "engine answered HTTP 429 Too Many Requests", true), 5));

        assertThat(limiter.limit()).isLessThan(16);
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
