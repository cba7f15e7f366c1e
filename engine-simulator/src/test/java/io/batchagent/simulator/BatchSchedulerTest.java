package io.batchagent.simulator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class BatchSchedulerTest {

    private final EngineCounters counters = new EngineCounters();
    private final List<String> events = new CopyOnWriteArrayList<>();
    private BatchScheduler scheduler;

    @AfterEach
    void closeScheduler() {
        if (scheduler != null) {
            scheduler.close();
        }
    }

    private static int[] tokens(int base, int count) {
        int[] out = new int[count];
        for (int i = 0; i < count; i++) {
            out[i] = base + i;
        }
        return out;
    }

    private static EngineProfile freeProfile(long kvCapacity, int prefillBudget, int maxRunning) {
        return new EngineProfile("test", Double.POSITIVE_INFINITY, 0, 0, kvCapacity, prefillBudget, maxRunning);
    }

    private BatchScheduler.Listener recorder(String name) {
        return new BatchScheduler.Listener() {
            @Override
            public void onToken(BatchScheduler.Sequence sequence, int index) {
                events.add(name + ":token" + index);
            }

            @Override
            public void onFinish(BatchScheduler.Sequence sequence) {
                events.add(name + ":finish:cached=" + sequence.cachedTokens());
            }

            @Override
            public void onAbort(BatchScheduler.Sequence sequence) {
                events.add(name + ":abort");
            }
        };
    }

    private List<String> finishes() {
        return events.stream().filter(e -> e.contains(":finish")).toList();
    }

    @Test
    void shouldAdmitHigherPriorityFirstAndFifoAmongEquals() {
        scheduler = new BatchScheduler(freeProfile(10_000, 1024, 1), 1, counters);
        scheduler.pause();
        scheduler.submit(tokens(0, 10), tokens(100, 2), 0, recorder("low"));
        scheduler.submit(tokens(200, 10), tokens(300, 2), 5, recorder("high"));
        scheduler.submit(tokens(400, 10), tokens(500, 2), 3, recorder("mid-first"));
        scheduler.submit(tokens(600, 10), tokens(700, 2), 3, recorder("mid-second"));
        assertThat(scheduler.occupancy().waiting()).isEqualTo(4);

        scheduler.resume();

        await().atMost(Duration.ofSeconds(5)).until(() -> finishes().size() == 4);
        assertThat(finishes())
                .extracting(e -> e.substring(0, e.indexOf(':')))
                .containsExactly("high", "mid-first", "mid-second", "low");
    }

    @Test
    void shouldHoldARequestBackUntilTheKvPoolHasRoomForIt() {
        scheduler = new BatchScheduler(freeProfile(100, 1024, 8), 1, counters);
        scheduler.pause();
        scheduler.submit(tokens(0, 60), tokens(1000, 5), 0, recorder("a"));
        scheduler.submit(tokens(2000, 60), tokens(3000, 5), 0, recorder("b"));

        scheduler.resume();

        await().atMost(Duration.ofSeconds(5)).until(() -> finishes().size() == 2);
        assertThat(events.indexOf("b:token0"))
                .as("b starts only after a has finished")
                .isGreaterThan(events.indexOf("a:finish:cached=0"));
        BatchScheduler.Occupancy occupancy = scheduler.occupancy();
        assertThat(occupancy.cachedTokens()).isLessThanOrEqualTo(100);
        assertThat(occupancy.reservedTokens()).isZero();
        assertThat(occupancy.pinnedTokens()).isZero();
    }

    @Test
    void shouldBatchRequestsThatFitTogether() {
        scheduler = new BatchScheduler(freeProfile(10_000, 1024, 8), 1, counters);
        scheduler.pause();
        scheduler.submit(tokens(0, 60), tokens(1000, 5), 0, recorder("a"));
        scheduler.submit(tokens(2000, 60), tokens(3000, 5), 0, recorder("b"));

        scheduler.resume();

        await().atMost(Duration.ofSeconds(5)).until(() -> finishes().size() == 2);
        assertThat(events.subList(0, 4)).containsExactly("a:token0", "b:token0", "a:token1", "b:token1");
    }

    @Test
    void shouldServeFinishedPromptAndOutputFromTheCache() {
        scheduler = new BatchScheduler(freeProfile(10_000, 16, 8), 1, counters);
        int[] first = tokens(0, 50);
        int[] output = tokens(500, 4);
        scheduler.submit(first, output, 0, recorder("first"));
        await().atMost(Duration.ofSeconds(5)).until(() -> finishes().size() == 1);

        int[] followUp = new int[first.length + output.length + 10];
        System.arraycopy(first, 0, followUp, 0, first.length);
        System.arraycopy(output, 0, followUp, first.length, output.length);
        System.arraycopy(tokens(900, 10), 0, followUp, first.length + output.length, 10);
        scheduler.submit(followUp, tokens(700, 3), 0, recorder("followUp"));
        scheduler.submit(first, tokens(800, 3), 0, recorder("repeat"));

        await().atMost(Duration.ofSeconds(5)).until(() -> finishes().size() == 3);
        assertThat(finishes()).contains("followUp:finish:cached=54", "repeat:finish:cached=49");
        assertThat(counters.prefillTokensComputed.get())
                .isEqualTo(counters.promptTokens.get() - counters.cachedTokens.get())
                .isEqualTo(50 + 10 + 1);
        assertThat(counters.completionTokens.get()).isEqualTo(4 + 3 + 3);
    }

    @Test
    void shouldReleaseKvOfACancelledRequest() {
        scheduler = new BatchScheduler(freeProfile(1_000, 1024, 8), 1, counters);
        BatchScheduler.Sequence sequence = scheduler.submit(tokens(0, 100), tokens(100, 50), 0, recorder("a"));
        scheduler.pause();

        scheduler.cancel(sequence);

        BatchScheduler.Occupancy occupancy = scheduler.occupancy();
        assertThat(occupancy.running() + occupancy.waiting()).isZero();
        assertThat(occupancy.reservedTokens()).isZero();
        assertThat(occupancy.pinnedTokens()).isZero();
    }

    @Test
    void shouldRejectARequestLargerThanTheKvPool() {
        scheduler = new BatchScheduler(freeProfile(100, 1024, 8), 1, counters);

        assertThatThrownBy(() -> scheduler.submit(tokens(0, 95), tokens(100, 6), 0, recorder("big")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("KV capacity of 100");
    }

    @Test
    void shouldTakeSimulatedStepTimeDividedBySpeedup() throws InterruptedException {
        // One step of 11 prefill tokens plus the first output token, then 9 decode steps, divided by 4.
        EngineProfile profile = new EngineProfile("slow", 10_000, 38.5, 0.5, 10_000, 1024, 8);
        long expectedMillis = (long) Math.floor((profile.stepMillis(11, 1, 11) + 9 * profile.stepMillis(0, 1, 11)) / 4);
        scheduler = new BatchScheduler(profile, 4, counters);
        CountDownLatch finished = new CountDownLatch(1);
        long start = System.nanoTime();

        scheduler.submit(tokens(0, 11), tokens(100, 10), 0, new BatchScheduler.Listener() {
            @Override
            public void onToken(BatchScheduler.Sequence sequence, int index) {}

            @Override
            public void onFinish(BatchScheduler.Sequence sequence) {
                finished.countDown();
            }

            @Override
            public void onAbort(BatchScheduler.Sequence sequence) {}
        });

        assertThat(finished.await(5, TimeUnit.SECONDS)).isTrue();
        long elapsedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertThat(expectedMillis).isEqualTo(97);
        // The scheduler's own pacing proves the division; wall time only shows that it really waited.
        assertThat(TimeUnit.NANOSECONDS.toMillis(counters.pacedStepNanos.get())).isEqualTo(expectedMillis);
        assertThat(elapsedMillis).isGreaterThanOrEqualTo(expectedMillis);
    }

    /** Costs that tell the terms apart: 1 ms overhead, 10 ms base, 0.5 ms per sequence, 0.01 ms per context token. */
    private static final EngineProfile CONTEXT_PRICED =
            new EngineProfile("context-priced", Double.POSITIVE_INFINITY, 1, 10, 0.5, 0.01, 100_000, 100_000, 8);

    private void runAlone(int[] prompt, int[] output, String name) {
        int before = finishes().size();
        scheduler.submit(prompt, output, 0, recorder(name));
        await().atMost(Duration.ofSeconds(5)).until(() -> finishes().size() == before + 1);
    }

    @Test
    void shouldChargeALongContextDecodeMoreThanAShortOneByTheFormula() {
        // A large speedup keeps the test fast; the charge is read from the scheduler's own counters.
        scheduler = new BatchScheduler(CONTEXT_PRICED, 1e6, counters);

        runAlone(tokens(0, 10), tokens(100, 5), "short");
        long shortSteps = counters.steps.get();
        long shortContext = counters.emittedContextTokens.get();
        double shortMillis = counters.simulatedStepMillis.sum();
        counters.reset();
        runAlone(tokens(10_000, 1_000), tokens(20_000, 5), "long");

        // Five steps each: the first prefills the prompt and emits token 0, then one step per token.
        assertThat(shortSteps).isEqualTo(5);
        assertThat(counters.steps.get()).isEqualTo(5);
        // Token i is charged for the prompt plus the i tokens before it.
        assertThat(shortContext).isEqualTo(10 + 11 + 12 + 13 + 14);
        assertThat(counters.emittedContextTokens.get()).isEqualTo(1_000 + 1_001 + 1_002 + 1_003 + 1_004);
        assertThat(shortMillis).isCloseTo(5 * (1 + 10 + 0.5) + 60 * 0.01, within(1e-9));
        assertThat(counters.simulatedStepMillis.sum()).isCloseTo(5 * (1 + 10 + 0.5) + 5_010 * 0.01, within(1e-9));
        assertThat(counters.simulatedStepMillis.sum() - shortMillis)
                .as("the long decode pays for its extra KV read, nothing else")
                .isCloseTo((5_010 - 60) * CONTEXT_PRICED.decodeMillisPerContextToken(), within(1e-9));
    }

    @Test
    void shouldChargeStepOverheadOncePerStepWhateverTheBatch() {
        scheduler = new BatchScheduler(CONTEXT_PRICED, 1e6, counters);
        scheduler.pause();
        scheduler.submit(tokens(0, 10), tokens(100, 4), 0, recorder("a"));
        scheduler.submit(tokens(200, 10), tokens(300, 4), 0, recorder("b"));

        scheduler.resume();

        await().atMost(Duration.ofSeconds(5)).until(() -> finishes().size() == 2);
        // Batched: 4 steps of 2 sequences, so overhead and base are paid 4 times, not 8.
        assertThat(counters.steps.get()).isEqualTo(4);
        long context = 2 * (10 + 11 + 12 + 13);
        assertThat(counters.emittedContextTokens.get()).isEqualTo(context);
        assertThat(counters.simulatedStepMillis.sum())
                .isCloseTo(4 * (1 + 10) + 8 * 0.5 + context * 0.01, within(1e-9))
                .isCloseTo(CONTEXT_PRICED.workMillis(4, 0, 8, context), within(1e-9));
    }

    @Test
    void shouldChargeNothingOnTheInstantProfile() {
        scheduler = new BatchScheduler(EngineProfile.INSTANT, 1, counters);

        runAlone(tokens(0, 1_000), tokens(5_000, 20), "a");

        assertThat(counters.steps.get()).isEqualTo(20);
        assertThat(counters.simulatedStepMillis.sum()).isZero();
        assertThat(counters.pacedStepNanos.get()).isZero();
    }

    @Test
    void shouldAbortQueuedRequestsOnClose() {
        scheduler = new BatchScheduler(freeProfile(1_000, 1024, 8), 1, counters);
        scheduler.pause();
        scheduler.submit(tokens(0, 10), tokens(100, 5), 0, recorder("a"));

        scheduler.close();

        assertThat(events).containsExactly("a:abort");
        assertThatThrownBy(() -> scheduler.submit(tokens(0, 10), tokens(100, 5), 0, recorder("b")))
                .isInstanceOf(IllegalStateException.class);
    }
}
