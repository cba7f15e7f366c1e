package io.batchagent.bench.bound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.batchagent.bench.engine.ModelCall;
import io.batchagent.simulator.EngineProfile;
import java.util.List;
import org.junit.jupiter.api.Test;

class IdealBoundTest {

    /** 1 ms overhead + 9 ms base per step, 1,000 prefill tokens/s, 0.5 ms per token, 0.01 ms per context token. */
    private static final EngineProfile PROFILE = new EngineProfile("t", 1000, 1, 9, 0.5, 0.01, 100_000, 100, 4);

    private static WorkloadShape oneAgent(int maxInFlight, WorkloadShape.Turn... turns) {
        return new WorkloadShape(List.of(new WorkloadShape.Agent(List.of(turns))), 0, maxInFlight);
    }

    @Test
    void shouldChargeOneCallAloneItsPrefillStepAndOneStepPerFurtherToken() {
        // 50-token prompt, 3 tokens: steps 1 (prefill + token 0) + 2; contexts 50 + 51 + 52.
        IdealBound.Result result = IdealBound.of(PROFILE, oneAgent(1, new WorkloadShape.Turn(50, 3, 0)));

        double expected = 3 * (1 + 9) + 50 + 3 * 0.5 + 153 * 0.01;
        assertThat(result.boundMillis()).isCloseTo(expected, within(1e-9)).isCloseTo(83.03, within(1e-9));
        assertThat(result.criticalPathMillis()).isCloseTo(expected, within(1e-9));
        assertThat(result.engineWorkMillis()).isCloseTo(expected, within(1e-9));
        assertThat(result.steps()).isEqualTo(3);
        assertThat(result.contextTokens()).isEqualTo(153);
    }

    @Test
    void shouldFollowTheLongestAgentThroughItsToolWaitWhenThatBinds() {
        // Turn 2's prompt is turn 1's prompt, its 3 output tokens and a 7-token tool result: 7 computed.
        IdealBound.Result result = IdealBound.of(
                PROFILE, oneAgent(1, new WorkloadShape.Turn(50, 3, 200), new WorkloadShape.Turn(60, 2, 0)));

        double turn2 = 2 * (1 + 9) + 7 + 2 * 0.5 + (60 + 61) * 0.01;
        assertThat(turn2).isCloseTo(29.21, within(1e-9));
        assertThat(result.criticalPathMillis()).isCloseTo(83.03 + 200 + 29.21, within(1e-9));
        assertThat(result.prefillTokens()).isEqualTo(57);
        assertThat(result.engineWorkMillis()).isCloseTo(5 * 10 + 57 + 5 * 0.5 + (153 + 121) * 0.01, within(1e-9));
        assertThat(result.boundMillis()).isCloseTo(312.24, within(1e-9));
    }

    @Test
    void shouldBatchAtMostTheInFlightLimitAndComputeTheSharedPrefixOnce() {
        // 8 agents, a 40-token shared prefix and 10 tokens each, 3 output tokens, at most 4 at once.
        WorkloadShape shape = WorkloadShape.uniform(8, 1, 40, 10, 3, 0, 0, 4);

        IdealBound.Result result = IdealBound.of(PROFILE, shape);

        assertThat(result.maxBatch()).isEqualTo(4);
        assertThat(result.prefillTokens()).isEqualTo(40 + 8 * 10);
        // 24 tokens at 4 a step: 6 steps (more than the 2 the prefill budget needs, and an agent's 3).
        assertThat(result.steps()).isEqualTo(6);
        assertThat(result.engineWorkMillis()).isCloseTo(6 * 10 + 120 + 24 * 0.5 + 8 * 153 * 0.01, within(1e-9));
        assertThat(result.boundMillis()).isCloseTo(204.24, within(1e-9));
        assertThat(result.criticalPathMillis()).isCloseTo(83.03, within(1e-9));
        assertThat(result.ratio(0.40848)).isCloseTo(2.0, within(1e-9));
    }

    @Test
    void shouldNeverBatchMoreRequestsThanTheKvPoolHolds() {
        EngineProfile smallPool = new EngineProfile("t", 1000, 1, 9, 0.5, 0.01, 100, 100, 4);
        // Each request holds 50 + 3 tokens of a 100-token pool: one at a time.
        IdealBound.Result result = IdealBound.of(smallPool, WorkloadShape.uniform(2, 1, 0, 50, 3, 0, 0, 4));

        assertThat(result.maxBatch()).isEqualTo(1);
        assertThat(result.steps()).isEqualTo(6);
        assertThat(result.boundMillis()).isCloseTo(6 * 10 + 100 + 6 * 0.5 + 306 * 0.01, within(1e-9));
    }

    @Test
    void shouldLeaveOnlyToolTimeOnTheInstantProfile() {
        IdealBound.Result result =
                IdealBound.of(EngineProfile.INSTANT, WorkloadShape.uniform(3, 3, 2_000, 50, 40, 100, 400, 8));

        assertThat(result.boundMillis()).isEqualTo(800);
        assertThat(result.engineWorkMillis()).isZero();
    }

    @Test
    void shouldReadTheShapeOfARunFromItsCalls() {
        List<ModelCall> calls = List.of(
                call("warmup", "", 1, 103, 0, 1),
                call("C", "agent a", 1, 150, 100, 4),
                call("C", "agent a", 2, 170, 154, 6),
                call("C", "agent b", 1, 150, 120, 4),
                call("C", "agent b", 2, 170, 154, 6));

        long shared = WorkloadShape.sharedPrefixFromCalls(calls);
        WorkloadShape shape = WorkloadShape.fromCalls(calls, shared, 400, 8);

        assertThat(shared).isEqualTo(120);
        assertThat(shape.agents()).hasSize(2);
        assertThat(shape.agents().get(0).turns())
                .containsExactly(new WorkloadShape.Turn(150, 4, 400), new WorkloadShape.Turn(170, 6, 0));
        IdealBound.Result result = IdealBound.of(PROFILE, shape);
        // Shared 120 once, 30 unique per first call, 170 - 154 = 16 per second call.
        assertThat(result.prefillTokens()).isEqualTo(120 + 2 * 30 + 2 * 16);
    }

    @Test
    void shouldTellApartAgentsThatShareTheirFirstUserMessage() {
        List<ModelCall> calls = List.of(
                call("C", "same task", 1, 150, 0, 4),
                call("C", "same task", 1, 150, 140, 4),
                call("C", "same task", 2, 170, 154, 6),
                call("C", "same task", 2, 170, 154, 6),
                call("C", "same task", 3, 190, 176, 2),
                call("C", "same task", 3, 190, 176, 2));

        WorkloadShape shape = WorkloadShape.fromCalls(calls, 0, 400, 8);

        // Two agents of three turns each, not one agent of six: the critical path holds three calls and two tool waits.
        assertThat(shape.agents()).hasSize(2);
        assertThat(shape.agents())
                .allSatisfy(agent -> assertThat(agent.turns())
                        .extracting(WorkloadShape.Turn::promptTokens)
                        .containsExactly(150L, 170L, 190L));
        // One merged agent of six calls would wait for the tool five times (2,000 ms).
        assertThat(IdealBound.of(PROFILE, shape).criticalPathMillis()).isBetween(800.0, 1999.0);
    }

    @Test
    void shouldDivideEngineTimeButNotToolTimeByTheSpeedup() {
        List<ModelCall> calls = List.of(call("C", "a", 1, 50, 0, 3), call("C", "a", 2, 60, 0, 2));
        EngineProfile profile = EngineProfile.H100_QWEN32B;
        IdealBound.Result atOne = IdealBound.of(profile, WorkloadShape.fromCalls(calls, 0, 400, 1));

        IdealBound.Result atTen =
                IdealBound.ofRun("sim://h100-qwen2.5-32b", 10, calls, 400, 1).orElseThrow();

        assertThat(atTen.criticalPathMillis()).isCloseTo((atOne.criticalPathMillis() - 400) / 10 + 400, within(1e-6));
        assertThat(IdealBound.ofRun("vllm://gpu:8000", 1, calls, 400, 1)).isEmpty();
    }

    /**
     * W1 at 2,048 prompt tokens as a run measured it (bench/run w1 --reps 1 on this branch): 20 agents,
     * turn 1 about 2,384 prompt and 40 output tokens, a 400 ms search, turn 2 about 2,608 prompt and 60
     * output tokens, max_inflight 8, a shared prefix of 2,370 tokens.
     */
    private static WorkloadShape w1() {
        List<WorkloadShape.Agent> agents = new java.util.ArrayList<>();
        for (int i = 0; i < 20; i++) {
            agents.add(new WorkloadShape.Agent(
                    List.of(new WorkloadShape.Turn(2_384, 40, 400), new WorkloadShape.Turn(2_608, 60, 0))));
        }
        return new WorkloadShape(agents, 2_370, 8);
    }

    @Test
    void shouldStayBelowTheScheduleModelsOfW1OnTheCostFormulaBeforeIssue14() {
        // The profile before issue 14: no step overhead, a fixed 4,096-token context in the per-sequence cost.
        EngineProfile before = new EngineProfile("h100-before-14", 7611, 19.4, 0.452, 39_132, 8192, 256);

        IdealBound.Result result = IdealBound.of(before, w1());

        // The issue's model of W1 on that formula: 7.86 s continuing-first, about 6.7 s new-first.
        // 250 steps (2,000 tokens at 8 a step) x 19.4 ms + 3,290 prefill tokens / 7,611 + 2,000 x 0.452 ms.
        assertThat(result.steps()).isEqualTo(250);
        assertThat(result.prefillTokens()).isEqualTo(2_370 + 20 * 14 + 20 * (2_608 - 2_424));
        assertThat(result.boundMillis())
                .isCloseTo(250 * 19.4 + (2_370 + 20 * 14 + 20 * 184) * 1000.0 / 7611 + 2_000 * 0.452, within(1e-6))
                .isLessThan(6_700);
    }

    @Test
    void shouldChargeW1MoreOnTheRederivedProfile() {
        IdealBound.Result result = IdealBound.of(EngineProfile.H100_QWEN32B, w1());

        // Engine work binds: 250 steps x (1.5 + 23.01) ms, prefill, 2,000 x 0.132 ms and the KV reads.
        long context = 20 * (40L * 2_384 + 40 * 39 / 2 + 60L * 2_608 + 60 * 59 / 2);
        assertThat(result.contextTokens()).isEqualTo(context);
        assertThat(result.boundMillis())
                .isEqualTo(result.engineWorkMillis())
                .isCloseTo(250 * 24.51 + 6_330 * 1000.0 / 7549 + 2_000 * 0.132 + context * 0.0000921, within(1e-6));
    }

    @Test
    void shouldKnowTheProfileOfASimulatedEngineOnly() {
        assertThat(IdealBound.profileOf("sim://h100-qwen2.5-32b")).contains(EngineProfile.H100_QWEN32B);
        assertThat(IdealBound.profileOf("sim://instant")).contains(EngineProfile.INSTANT);
        assertThat(IdealBound.profileOf("sglang://gpu:30000")).isEmpty();
    }

    private static ModelCall call(String tag, String agent, int turn, long prompt, long cached, long completion) {
        return new ModelCall(tag, 0, 1, 2, 200, prompt, cached, completion, "stop", agent, turn);
    }
}
