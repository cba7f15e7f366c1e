package io.batchagent.bench.workload;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.bench.engine.ModelCall;
import io.batchagent.inference.SchedulingPolicy;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The per-run figures of the dispatch-policy comparison, from the calls the proxy recorded. */
class SchedulingBenchTest {

    private static final long S = 1_000_000_000L;

    @Test
    void shouldMeasureAgentLatencyFromTheBatchStartAndCountTheWarmUpsPrefill() {
        // Given a warm-up at t=0 (1,000 cold tokens), agent a's calls at 1-2 s and 5-6 s, agent b's at 1-3 s
        List<ModelCall> calls = List.of(
                call("warmup", "", 0, S / 2, 1_000, 0),
                call("C", "a", 1 * S, 2 * S, 1_100, 1_000),
                call("C", "a", 5 * S, 6 * S, 1_200, 1_100),
                call("C", "b", 1 * S, 3 * S, 1_100, 1_000));
        Conditions.Outcome outcome = new Conditions.Outcome(
                "C", "x", 6.5, 2, 2, List.of(), 0, null, null, calls, Optional.empty(), "", Map.of());

        // When
        SchedulingBench.Run run = SchedulingBench.measure("W1", SchedulingPolicy.NEW_FIRST, 0, outcome);

        // Then latency runs from the warm-up's arrival to each agent's last call's end: a 6 s, b 3 s
        assertThat(run.latencyP95Seconds()).isEqualTo(6.0);
        assertThat(run.latencyP50Seconds()).isEqualTo(3.0);
        // residency: a from 1 to 6 s, b from 1 to 3 s
        assertThat(run.residencyP95Seconds()).isEqualTo(5.0);
        // prefill: 1,000 (warm-up) + 100 + 100 + 100
        assertThat(run.prefillTokens()).isEqualTo(1_300);
        assertThat(run.warmupPrefillTokens()).isEqualTo(1_000);
        assertThat(run.wallSeconds()).isEqualTo(6.5);
    }

    @Test
    void shouldShowMedianAndSpread() {
        assertThat(SchedulingBench.spread(new double[] {3, 1, 2}, 1)).isEqualTo("2.0 [1.0-3.0]");
    }

    private static ModelCall call(String tag, String agent, long arrived, long end, long prompt, long cached) {
        return new ModelCall(tag, arrived, arrived + 1, end, 200, prompt, cached, 10, "stop", agent, 1);
    }
}
