package io.batchagent.simulator;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.DoubleAdder;

/**
 * The simulator's counters, shared by the HTTP layer and the scheduler. Each counter is atomic on
 * its own; a snapshot taken while requests run may mix moments. Thread-safe.
 */
final class EngineCounters {

    final AtomicLong requests = new AtomicLong();
    final AtomicLong promptTokens = new AtomicLong();
    final AtomicLong cachedTokens = new AtomicLong();
    final AtomicLong prefillTokensComputed = new AtomicLong();
    final AtomicLong completionTokens = new AtomicLong();
    final AtomicLong clientErrors = new AtomicLong();
    final AtomicLong serverErrors = new AtomicLong();
    /** Requests for a conversation the simulator had already answered in full: repeated model calls. */
    final AtomicLong repeatedCalls = new AtomicLong();

    final java.util.Map<EngineFaults.Fault, AtomicLong> faults = new java.util.concurrent.ConcurrentHashMap<>();
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger peakInFlight = new AtomicInteger();
    /** Wall-clock time the scheduler has paced its steps to (step cost divided by the speedup). */
    final AtomicLong pacedStepNanos = new AtomicLong();
    /** Steps run that prefilled or emitted something. */
    final AtomicLong steps = new AtomicLong();
    /** For every token emitted, the context it was charged for (its prompt plus earlier output), added up. */
    final AtomicLong emittedContextTokens = new AtomicLong();
    /** Simulated engine time charged for those steps ({@link EngineProfile#stepMillis}), before the speedup. */
    final DoubleAdder simulatedStepMillis = new DoubleAdder();

    void requestStarted() {
        int now = inFlight.incrementAndGet();
        peakInFlight.accumulateAndGet(now, Math::max);
    }

    void faultInjected(EngineFaults.Fault fault) {
        faults.computeIfAbsent(fault, f -> new AtomicLong()).incrementAndGet();
    }

    long faultsInjected(EngineFaults.Fault fault) {
        AtomicLong count = faults.get(fault);
        return count == null ? 0 : count.get();
    }

    void requestEnded() {
        inFlight.decrementAndGet();
    }

    /** Zeroes the counters; the peak restarts from the requests in flight now. */
    void reset() {
        requests.set(0);
        promptTokens.set(0);
        cachedTokens.set(0);
        prefillTokensComputed.set(0);
        completionTokens.set(0);
        clientErrors.set(0);
        serverErrors.set(0);
        repeatedCalls.set(0);
        faults.clear();
        pacedStepNanos.set(0);
        steps.set(0);
        emittedContextTokens.set(0);
        simulatedStepMillis.reset();
        peakInFlight.set(inFlight.get());
    }
}
