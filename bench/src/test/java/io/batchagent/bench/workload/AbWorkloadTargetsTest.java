package io.batchagent.bench.workload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Issue 14's replacement for the A/C 2.5x target: C within 10% of its bound, A/C within 5% of the ideal ratio. */
class AbWorkloadTargetsTest {

    @Test
    void cMayExceedItsBoundByTenPercentAtMost() {
        assertTrue(AbWorkload.meetsBound(10.9, 10.0));
        assertTrue(AbWorkload.meetsBound(11.0, 10.0));
        assertFalse(AbWorkload.meetsBound(11.01, 10.0));
        assertFalse(AbWorkload.meetsBound(13.3, 10.0), "W1's measured 1.33x is a miss");
    }

    @Test
    void aOverCMayFallShortOfTheIdealRatioByFivePercentAtMost() {
        assertTrue(AbWorkload.meetsIdealRatio(1.20, 1.25));
        assertTrue(AbWorkload.meetsIdealRatio(1.30, 1.25), "above the ideal ratio is met");
        assertFalse(AbWorkload.meetsIdealRatio(1.18, 1.25));
    }

    @Test
    void theIdealRatioIsABoundOverCsBound() {
        var a = new io.batchagent.bench.bound.IdealBound.Result(15_000, 15_000, 12_000, 100, 8, 1_000, 500, 50_000);
        var c = new io.batchagent.bench.bound.IdealBound.Result(10_000, 10_000, 9_000, 80, 8, 500, 500, 40_000);
        assertEquals(1.5, new AbWorkload.Bounds(a, c).idealRatio(), 1e-9);
    }
}
