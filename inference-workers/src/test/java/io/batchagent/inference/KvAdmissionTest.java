package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.AgentTurn;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class KvAdmissionTest {

    /** An 11,250-token pool: 9,000 planned for (KV_TARGET 0.8); a 4,000-token shared prefix leaves 5,000. */
    private static final double CAPACITY = 11_250;

    private static final long PREFIX = 4_000;

    private final AtomicLong clock = new AtomicLong(1_000);
    private final AtomicReference<EngineMetrics> reading = new AtomicReference<>(pool(CAPACITY));
    private final KvAdmission admission = new KvAdmission(reading::get, 4, clock::get);

    private static EngineMetrics pool(double capacityTokens) {
        return new EngineMetrics(
                "sim",
                OptionalDouble.empty(),
                OptionalDouble.empty(),
                OptionalDouble.empty(),
                Map.of("sim:kv_capacity_tokens", capacityTokens));
    }

    private static AgentTurn turn(String jobId, int turn) {
        return Fixtures.turn(jobId, "batch", turn, List.of(Fixtures.user("task of " + jobId)), 1_000);
    }

    /** The agent's call at {@code turn} saw {@code prompt} tokens, the prefix cached, and answered {@code completion}. */
    private void called(String jobId, int turn, long prompt, long cached, long completion) {
        admission.observe(
                new ChatRequest(jobId, turn, "m", new byte[] {'{', '}'}),
                ChatResponse.answer(
                        "{}",
                        List.of(),
                        "stop",
                        new TokenUsage(prompt, cached, completion, 0, true),
                        OptionalLong.of(10),
                        20));
    }

    /** Runs agent {@code jobId} through two turns to a context of {@code context} tokens beyond the prefix, and ends it. */
    private void runToEnd(String jobId, long context) {
        assertThat(admission.admit(turn(jobId, 1))).isTrue();
        called(jobId, 1, PREFIX + 100, PREFIX, 20);
        assertThat(admission.admit(turn(jobId, 2))).isTrue();
        called(jobId, 2, PREFIX + context - 50, PREFIX + 120, 50);
        admission.finished(jobId);
    }

    @Test
    void shouldAdmitAFirstCohortOnlyUntilACallIsAnswered() {
        for (int i = 0; i < 4; i++) {
            assertThat(admission.admit(turn("a" + i, 1)))
                    .as("agent %d of the first cohort", i)
                    .isTrue();
        }

        assertThat(admission.admit(turn("a4", 1)))
                .as("nothing is known yet of the agents' contexts")
                .isFalse();
        assertThat(admission.heldBack()).isEqualTo(1);
    }

    @Test
    void shouldPlanRunningAgentsAtAMultipleOfTheLargestContextUntilOneFinishes() {
        // Given the first cohort, one of whose first turns shows a context of 250 tokens beyond the prefix
        for (int i = 0; i < 4; i++) {
            assertThat(admission.admit(turn("a" + i, 1))).isTrue();
        }
        called("a0", 1, PREFIX + 200, PREFIX, 50);

        // When new agents arrive
        int admitted = 0;
        while (admission.admit(turn("n" + admitted, 1))) {
            admitted++;
        }

        // Then each agent, running or new, is planned at 4 x 250 = 1,000 tokens: 5 of them fit in 5,000
        assertThat(admitted).isEqualTo(5 - 4);
        assertThat(admission.plannedTokens()).isEqualTo(PREFIX + 5 * 250 * KvAdmission.GROWTH_PRIOR);
    }

    @Test
    void shouldAdmitNewAgentsOnlyWhileThePoolHoldsThePrefixAndEveryRunningContext() {
        // Given an agent that ended with a context of 1,000 tokens beyond the prefix
        runToEnd("calibrating", 1_000);
        assertThat(admission.prefix()).isEqualTo(PREFIX);

        // When new agents arrive, each planned at 1,000 tokens
        int admitted = 0;
        while (admission.admit(turn("n" + admitted, 1))) {
            admitted++;
        }

        // Then as many start as the 5,000 planned tokens beyond the prefix hold
        assertThat(admitted).isEqualTo(5);
        assertThat(admission.running()).isEqualTo(5);

        // And one more starts when one of them ends
        called("n0", 1, PREFIX + 100, PREFIX, 900);
        admission.finished("n0");
        assertThat(admission.admit(turn("n5", 1))).isTrue();
    }

    @Test
    void shouldCountARunningAgentAtWhatItsContextHasGrownTo() {
        runToEnd("calibrating", 1_000);
        assertThat(admission.admit(turn("big", 1))).isTrue();
        called("big", 1, PREFIX + 4_500, PREFIX, 100);

        assertThat(admission.admit(turn("next", 1)))
                .as("4,600 + 1,000 planned tokens exceed 5,000")
                .isFalse();
        assertThat(admission.admit(turn("big", 2)))
                .as("a continuing agent is never held back")
                .isTrue();
    }

    @Test
    void shouldNotCountCallsOfAgentsThatDoNotRunHere() {
        // Given the batch's warm-up call (no agent of it runs here), whose whole prompt is uncached
        called("warm-up", 1, PREFIX + 3, 0, 1);

        // Then it neither sets the prefix nor the contexts new agents are planned at
        assertThat(admission.prefix()).isZero();
        runToEnd("calibrating", 1_000);
        int admitted = 0;
        while (admission.admit(turn("n" + admitted, 1))) {
            admitted++;
        }
        assertThat(admitted).isEqualTo(5);
    }

    @Test
    void shouldAlwaysAdmitOneAgentWhileNoneRuns() {
        reading.set(pool(1_000));
        runToEnd("calibrating", 5_000);

        assertThat(admission.admit(turn("alone", 1)))
                .as("progress, even if the pool cannot hold the context")
                .isTrue();
        assertThat(admission.admit(turn("second", 1))).isFalse();
    }

    @Test
    void shouldAdmitEveryAgentWhereTheEngineReportsNoPoolSize() {
        reading.set(EngineMetrics.NONE);

        for (int i = 0; i < 100; i++) {
            assertThat(admission.admit(turn("x" + i, 1))).isTrue();
        }
    }

    @Test
    void shouldForgetAnAgentNotSeenForLong() {
        runToEnd("calibrating", 1_000);
        for (int i = 0; i < 5; i++) {
            assertThat(admission.admit(turn("gone" + i, 1))).isTrue();
        }
        assertThat(admission.admit(turn("late", 1))).isFalse();

        clock.addAndGet(KvAdmission.FORGET_AFTER_MS + 1);

        assertThat(admission.admit(turn("late", 1)))
                .as("their later turns went to another worker")
                .isTrue();
    }

    @Test
    void shouldReadThePoolSizeUnderEachEnginesName() {
        assertThat(EngineMetrics.parse(
                                "sglang:max_total_num_tokens{model_name=\"m\"} 471258\nsglang:num_queue_reqs 0\n",
                                "sglang")
                        .kvCapacityTokens())
                .hasValue(471_258);
        assertThat(EngineMetrics.parse(
                                "vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\",num_gpu_blocks=\"2445\"} 1.0\n"
                                        + "vllm:num_requests_waiting 0\n",
                                "vllm")
                        .kvCapacityTokens())
                .hasValue(39_120);
        assertThat(EngineMetrics.parse(
                                "vllm:cache_config_info{block_size=\"16\",num_gpu_blocks=\"None\"} 1.0\n"
                                        + "vllm:num_requests_waiting 0\n",
                                "vllm")
                        .kvCapacityTokens())
                .isEmpty();
    }

    @Test
    void shouldKeepItsRunningSumWithinTheToleranceOfAFullRecount() {
        reading.set(pool(1e12));
        java.util.Random random = new java.util.Random(7);
        for (int i = 0; i < 3_000; i++) {
            String agent = "a" + random.nextInt(600);
            switch (random.nextInt(4)) {
                case 0 -> admission.admit(turn(agent, 1));
                case 1 -> called(agent, 1, PREFIX + random.nextInt(2_000), PREFIX, random.nextInt(500));
                case 2 -> called(agent, 2, PREFIX + random.nextInt(8_000), PREFIX, random.nextInt(500));
                default -> admission.finished(agent);
            }
            if (i % 50 == 0) {
                // What admit compares against the pool: the running sum, taken again when the typical context moves.
                long running = admission.plannedTokensForAdmission();
                long recount = admission.plannedTokens();
                assertThat((double) Math.abs(running - recount))
                        .as("step %d: running sum %d against a recount of %d", i, running, recount)
                        .isLessThanOrEqualTo(KvAdmission.RESUM_TOLERANCE * recount);
            }
        }
        assertThat(admission.running()).isPositive();
    }
}
