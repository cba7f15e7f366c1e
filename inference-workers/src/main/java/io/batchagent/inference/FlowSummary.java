package io.batchagent.inference;

/**
 * How an inference worker paced its model calls so far, for a batch summary.
 *
 * @param pausedMillis time paused by engine outages ({@link OutageGuard})
 * @param inFlightMin the least model calls in flight at the start of a call
 * @param inFlightMedian the median of the same
 * @param inFlightMax the most of the same
 * @param calls model calls started
 * @param kvHeldBack times a new agent was held back because the engine's KV pool could not hold its context
 *     ({@link KvAdmission})
 */
public record FlowSummary(
        long pausedMillis, int inFlightMin, int inFlightMedian, int inFlightMax, long calls, long kvHeldBack) {

    /** One line: {@code in flight min 1 / median 12 / max 16 over 300 calls; paused by engine outages 61.2 s; ...}. */
    public String describe() {
        return String.format(
                java.util.Locale.ROOT,
                "in flight min %d / median %d / max %d over %d calls; paused by engine outages %.1f s; "
                        + "new agents held back by KV %d times",
                inFlightMin,
                inFlightMedian,
                inFlightMax,
                calls,
                pausedMillis / 1000.0,
                kvHeldBack);
    }
}
