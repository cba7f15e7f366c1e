package io.batchagent.gateway;

import io.batchagent.inference.ChatResponse;
import io.batchagent.inference.TokenUsage;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Per-job usage of the calls the gateway forwarded, and totals over all of them.
 *
 * <p>A job's entry lives until {@link #forget(String)}; totals are never forgotten. Thread-safe: each job's
 * entry is updated under its own lock, totals with adders.
 */
final class UsageLedger {

    private static final class Entry {
        final String jobId;
        final String batchId;
        int started;
        int calls;
        int failed;
        long prompt;
        long cached;
        long completion;
        boolean cacheReported = true;
        long firstTokenMs = -1;
        long firstPrompt = -1;
        long firstCached;
        long queuedMs;
        long modelMs;

        Entry(String jobId, String batchId) {
            this.jobId = jobId;
            this.batchId = batchId;
        }

        synchronized JobUsage snapshot() {
            return new JobUsage(
                    jobId,
                    batchId,
                    calls,
                    failed,
                    prompt,
                    cached,
                    completion,
                    cacheReported && calls > failed,
                    firstTokenMs < 0 ? OptionalLong.empty() : OptionalLong.of(firstTokenMs),
                    Math.max(0, firstPrompt),
                    firstCached,
                    queuedMs,
                    modelMs);
        }
    }

    /** Totals over every call since start. */
    record Totals(long calls, long failedCalls, long promptTokens, long cachedPromptTokens, long completionTokens) {}

    private final Map<String, Entry> jobs = new ConcurrentHashMap<>();
    private final LongAdder calls = new LongAdder();
    private final LongAdder failed = new LongAdder();
    private final LongAdder prompt = new LongAdder();
    private final LongAdder cached = new LongAdder();
    private final LongAdder completion = new LongAdder();

    /** Counts the start of a call for {@code jobId}; returns its number within the job, from 1. */
    int begin(String batchId, String jobId) {
        Entry entry = jobs.computeIfAbsent(jobId, id -> new Entry(id, batchId));
        synchronized (entry) {
            return ++entry.started;
        }
    }

    /** Records the outcome of call number {@code callNumber} of {@code jobId}. */
    void record(String jobId, int callNumber, ChatResponse response, long queuedMs) {
        Entry entry = jobs.get(jobId);
        calls.increment();
        if (response.isFailure()) {
            failed.increment();
        }
        TokenUsage usage = response.usage();
        prompt.add(usage.promptTokens());
        cached.add(usage.cachedPromptTokens());
        completion.add(usage.completionTokens());
        if (entry == null) {
            return;
        }
        synchronized (entry) {
            entry.calls++;
            entry.queuedMs += queuedMs;
            entry.modelMs += response.latencyMs();
            if (response.isFailure()) {
                entry.failed++;
                return;
            }
            entry.prompt += usage.promptTokens();
            entry.cached += usage.cachedPromptTokens();
            entry.completion += usage.completionTokens();
            entry.cacheReported &= usage.cacheReported();
            if (callNumber == 1) {
                entry.firstPrompt = usage.promptTokens();
                entry.firstCached = usage.cachedPromptTokens();
                entry.firstTokenMs = response.timeToFirstTokenMs().orElse(-1);
            }
        }
    }

    Optional<JobUsage> usage(String jobId) {
        Entry entry = jobs.get(jobId);
        return entry == null ? Optional.empty() : Optional.of(entry.snapshot());
    }

    /** Every known job of {@code batchId}. */
    List<JobUsage> batch(String batchId) {
        List<JobUsage> found = new ArrayList<>();
        jobs.values().forEach(entry -> {
            if (entry.batchId.equals(batchId)) {
                found.add(entry.snapshot());
            }
        });
        return found;
    }

    void forget(String jobId) {
        jobs.remove(jobId);
    }

    Totals totals() {
        return new Totals(calls.sum(), failed.sum(), prompt.sum(), cached.sum(), completion.sum());
    }
}
