package io.batchagent.tools;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;

/**
 * A warning logged at most once per interval, saying how many like it were held back: an outage
 * that touches every call must not write a line per call. Thread-safe.
 */
final class ThrottledWarning {

    private final long intervalNanos;
    private final AtomicLong nextNanos = new AtomicLong(System.nanoTime());
    private final AtomicLong suppressed = new AtomicLong();

    ThrottledWarning(Duration interval) {
        this.intervalNanos = interval.toNanos();
    }

    void warn(Logger logger, String format, Object... arguments) {
        long now = System.nanoTime();
        long next = nextNanos.get();
        if (now - next >= 0 && nextNanos.compareAndSet(next, now + intervalNanos)) {
            long held = suppressed.getAndSet(0);
            logger.warn(held == 0 ? format : format + " (" + held + " similar warnings held back)", arguments);
        } else {
            suppressed.incrementAndGet();
        }
    }
}
