package io.batchagent.tools.limits;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletionStage;

/** Where limit state lives. Each operation is one atomic step; waiting is the caller's business. */
interface LimitBackend {

    /** Whether the backend may be used now (cheap, never blocks). */
    boolean usable();

    /** Takes one token of the tool's bucket: completes with 0 if taken, else the nanoseconds until one is due. */
    CompletionStage<Long> tryTakeToken(String tool, double ratePerSecond);

    /** Takes one of the tool's {@code max} slots for at most {@code ttl}: the lease id, or empty if all are taken. */
    CompletionStage<Optional<String>> tryLease(String tool, int max, Duration ttl);

    /** Gives a slot back. */
    CompletionStage<Void> release(String tool, String leaseId);

    /** Extends a held slot's lease to {@code ttl} from now (taking it again if it had expired). */
    CompletionStage<Void> renew(String tool, String leaseId, Duration ttl);
}
