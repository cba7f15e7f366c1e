package io.batchagent.inference;

import java.time.Duration;

/**
 * How an inference worker paces its model calls: how many it keeps in flight ({@link AdaptiveConcurrency}) and
 * how it rides out an engine outage ({@link OutageGuard}). A null argument takes the default.
 *
 * @param outageBudget how long a model call waits for an engine that fails for everyone (unreachable, or
 *     answering 5xx/429 to every call) before its job fails ENGINE_UNAVAILABLE; the clock starts when the
 *     outage is detected. Past it, turns fail at once until the engine answers again. Positive. Default
 *     {@link #DEFAULT_OUTAGE_BUDGET}.
 * @param firstProbeDelay how long after an outage is detected the engine is probed first; each probe that
 *     fails doubles the wait, up to {@code maxProbeDelay}. Positive. Default 500 ms.
 * @param maxProbeDelay the longest wait between two probes. At least {@code firstProbeDelay}. Default 15 s.
 * @param adaptive whether the in-flight bound adapts to the engine's signals under
 *     {@link InferenceWorkerConfig#maxInflight()} (true, the default), or stays fixed at it.
 * @param scheduling which buffered turn starts next when a slot frees, and the engine priority of each call
 *     ({@link SchedulingPolicy}). Default {@link SchedulingPolicy#DEFAULT}.
 */
public record FlowControl(
        Duration outageBudget,
        Duration firstProbeDelay,
        Duration maxProbeDelay,
        Boolean adaptive,
        SchedulingPolicy scheduling) {

    public static final Duration DEFAULT_OUTAGE_BUDGET = Duration.ofMinutes(10);
    public static final Duration DEFAULT_FIRST_PROBE_DELAY = Duration.ofMillis(500);
    public static final Duration DEFAULT_MAX_PROBE_DELAY = Duration.ofSeconds(15);

    public FlowControl {
        outageBudget = outageBudget == null ? DEFAULT_OUTAGE_BUDGET : outageBudget;
        firstProbeDelay = firstProbeDelay == null ? DEFAULT_FIRST_PROBE_DELAY : firstProbeDelay;
        maxProbeDelay = maxProbeDelay == null ? DEFAULT_MAX_PROBE_DELAY : maxProbeDelay;
        adaptive = adaptive == null || adaptive;
        scheduling = scheduling == null ? SchedulingPolicy.DEFAULT : scheduling;
        requirePositive("outageBudget", outageBudget);
        requirePositive("firstProbeDelay", firstProbeDelay);
        if (maxProbeDelay.compareTo(firstProbeDelay) < 0) {
            throw new IllegalArgumentException(
                    "maxProbeDelay (" + maxProbeDelay + ") must be at least firstProbeDelay (" + firstProbeDelay + ")");
        }
    }

    /** The settings before the scheduling policy existed; the policy at its default. */
    public FlowControl(Duration outageBudget, Duration firstProbeDelay, Duration maxProbeDelay, Boolean adaptive) {
        this(outageBudget, firstProbeDelay, maxProbeDelay, adaptive, null);
    }

    /** Every setting at its default. */
    public static FlowControl defaults() {
        return new FlowControl(null, null, null, null, null);
    }

    public FlowControl withOutageBudget(Duration value) {
        return new FlowControl(value, firstProbeDelay, maxProbeDelay, adaptive, scheduling);
    }

    public FlowControl withProbeDelays(Duration first, Duration max) {
        return new FlowControl(outageBudget, first, max, adaptive, scheduling);
    }

    public FlowControl withAdaptive(boolean value) {
        return new FlowControl(outageBudget, firstProbeDelay, maxProbeDelay, value, scheduling);
    }

    public FlowControl withScheduling(SchedulingPolicy value) {
        return new FlowControl(outageBudget, firstProbeDelay, maxProbeDelay, adaptive, value);
    }

    private static void requirePositive(String name, Duration value) {
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException(name + " must be positive, got " + value);
        }
    }
}
