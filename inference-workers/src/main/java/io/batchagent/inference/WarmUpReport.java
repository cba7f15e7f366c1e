package io.batchagent.inference;

import io.batchagent.events.WarmUpOutcome;
import io.batchagent.events.WarmUpStatus;
import java.util.Objects;

/**
 * How a worker warmed one batch's shared prefix (see {@link BatchWarmer}).
 *
 * @param batchId the batch
 * @param outcome VERIFIED, UNVERIFIED, NOT_CACHED, FAILED or SKIPPED (see {@link WarmUpOutcome})
 * @param calls warm-up and probe calls sent
 * @param promptTokens prompt tokens of the last warm-up or probe call, as the engine reported them
 * @param cachedTokens cached prompt tokens of the last call (0 where not reported)
 * @param elapsedMs from the start of the warm-up to its outcome; the batch's first turns waited this long
 * @param detail what happened, in words, for logs and the batch summary
 */
public record WarmUpReport(
        String batchId,
        WarmUpOutcome outcome,
        int calls,
        long promptTokens,
        long cachedTokens,
        long elapsedMs,
        String detail) {

    public WarmUpReport {
        Objects.requireNonNull(batchId, "batchId");
        Objects.requireNonNull(outcome, "outcome");
        detail = detail == null ? "" : detail;
    }

    /** Whether the batch's turns may count on a warm cache. */
    public boolean verified() {
        return outcome == WarmUpOutcome.VERIFIED;
    }

    /** The status stamped on the batch's results. */
    WarmUpStatus toStatus() {
        return WarmUpStatus.newBuilder().setOutcome(outcome).setDetail(detail).build();
    }
}
