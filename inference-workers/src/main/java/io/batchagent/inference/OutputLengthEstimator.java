package io.batchagent.inference;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Estimates how many tokens an agent's next model call will generate, from what the same batch's earlier
 * calls generated: the mean of the same turn number when any was measured, else the mean of all turns
 * measured so far, else nothing. Sibling agents run the same workflow, so turn n of one agent predicts
 * turn n of the next well. Used for Dynamo's {@code osl} hint.
 *
 * <p>Per worker, in memory, for the most recent {@value #BATCHES} batches. Thread-safe.
 */
final class OutputLengthEstimator {

    static final int BATCHES = 256;

    private static final class Stats {
        long count;
        long sum;

        void add(long tokens) {
            count++;
            sum += tokens;
        }

        OptionalInt mean() {
            return count == 0
                    ? OptionalInt.empty()
                    : OptionalInt.of((int) Math.max(1, Math.round((double) sum / count)));
        }
    }

    private final Map<String, Map<Integer, Stats>> byBatch = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Map<Integer, Stats>> eldest) {
            return size() > BATCHES;
        }
    };

    /** Records that a call of {@code turn} in {@code batchId} generated {@code completionTokens}. */
    synchronized void record(String batchId, int turn, long completionTokens) {
        if (completionTokens <= 0) {
            return;
        }
        Map<Integer, Stats> turns = byBatch.computeIfAbsent(batchId, id -> new HashMap<>());
        turns.computeIfAbsent(turn, t -> new Stats()).add(completionTokens);
        turns.computeIfAbsent(0, t -> new Stats()).add(completionTokens);
    }

    /** The expected output length of {@code turn} in {@code batchId}, if anything was measured. */
    synchronized OptionalInt estimate(String batchId, int turn) {
        Map<Integer, Stats> turns = byBatch.get(batchId);
        if (turns == null) {
            return OptionalInt.empty();
        }
        Stats same = turns.get(turn);
        if (same != null && same.count > 0) {
            return same.mean();
        }
        Stats all = turns.get(0);
        return all == null ? OptionalInt.empty() : all.mean();
    }
}
