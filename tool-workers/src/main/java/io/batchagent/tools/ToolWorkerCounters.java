package io.batchagent.tools;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Running totals of one {@link ToolWorker}, for tests and for export as metrics. Counts start at
 * zero when the worker is built and only grow. Thread-safe.
 */
public final class ToolWorkerCounters {

    private final Map<String, LongAdder> executions = new ConcurrentHashMap<>();
    private final LongAdder cacheHits = new LongAdder();
    private final LongAdder failures = new LongAdder();
    private final LongAdder timeouts = new LongAdder();
    private final LongAdder expiredInQueue = new LongAdder();
    private final LongAdder deadLetters = new LongAdder();
    private final LongAdder publishFailures = new LongAdder();
    private final LongAdder claimWaits = new LongAdder();

    /** Times the tool named {@code tool} started running (cache hits and refused calls excluded). */
    public long executions(String tool) {
        LongAdder count = executions.get(tool);
        return count == null ? 0 : count.sum();
    }

    /** {@link #executions(String)} for every tool that ran, by name. */
    public Map<String, Long> executionsByTool() {
        Map<String, Long> snapshot = new TreeMap<>();
        executions.forEach((tool, count) -> snapshot.put(tool, count.sum()));
        return snapshot;
    }

    /** Calls answered from the result cache without running the tool. */
    public long cacheHits() {
        return cacheHits.sum();
    }

    /** Results with status ERROR or TIMEOUT: unknown tools, bad arguments, tool exceptions, timeouts. */
    public long failures() {
        return failures.sum();
    }

    /** The part of {@link #failures()} that timed out. */
    public long timeouts() {
        return timeouts.sum();
    }

    /**
     * The part of {@link #timeouts()} answered without running the tool because the call's deadline
     * had passed while it waited on the tool-calls topic.
     */
    public long expiredInQueue() {
        return expiredInQueue.sum();
    }

    /** Records sent to the dead-letter topic because they could not be decoded. */
    public long deadLetters() {
        return deadLetters.sum();
    }

    /** Results or dead letters the producer could not deliver. */
    public long publishFailures() {
        return publishFailures.sum();
    }

    /**
     * Times a cacheable call found another worker running it (its claim held) and waited for that
     * worker's result instead of running it again.
     */
    public long claimWaits() {
        return claimWaits.sum();
    }

    void claimWait() {
        claimWaits.increment();
    }

    void executionStarted(String tool) {
        executions.computeIfAbsent(tool, t -> new LongAdder()).increment();
    }

    void cacheHit() {
        cacheHits.increment();
    }

    void failure(boolean timeout) {
        failures.increment();
        if (timeout) {
            timeouts.increment();
        }
    }

    void expiredCall() {
        expiredInQueue.increment();
    }

    void deadLetter() {
        deadLetters.increment();
    }

    void publishFailure() {
        publishFailures.increment();
    }
}
