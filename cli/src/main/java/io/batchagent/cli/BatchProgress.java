package io.batchagent.cli;

import io.batchagent.client.BatchClient;
import io.batchagent.client.ToolActivity;
import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.JobStatus;
import io.batchagent.events.ToolResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.LongSupplier;
import java.util.stream.Collectors;

/**
 * What one {@code batchagent run} has seen of its batch: final results, turns started, tool calls
 * requested and executed, and when any job last progressed. It is fed by the result collector
 * ({@link #result}) and by a {@link BatchActivity} that follows the batch's job-keyed topics; the
 * progress display reads {@link #snapshot()} and the stall report.
 *
 * <p>A job has progressed when one of its turns starts, when it starts waiting on tool calls, when
 * one of its tool calls is answered, or when its final result arrives. The stall clock starts at
 * submission. Thread-safe.
 */
final class BatchProgress {

    /** Unfinished job ids a stall report names, at most. */
    static final int REPORTED_JOBS = 10;

    /**
     * Figures at one moment.
     *
     * @param total jobs in the batch
     * @param done jobs with a final result (from earlier runs too)
     * @param failed of those, FAILED or CANCELLED
     * @param turnsPerSecond turns started per second since submission
     * @param cachedShare cached prompt tokens / prompt tokens of the finished jobs, 0 before any
     * @param toolRequests tool calls the batch's agents asked for in this run
     * @param toolExecutions of those, distinct calls a tool really ran for
     * @param eta time left at this run's finishing rate, empty before its first result
     * @param sinceProgress time since the last progress (since submission before any)
     */
    record Snapshot(
            int total,
            int done,
            int failed,
            double turnsPerSecond,
            double cachedShare,
            long toolRequests,
            long toolExecutions,
            Optional<Duration> eta,
            Duration sinceProgress) {

        /** One line for a log or the bar's message. */
        String describe() {
            return String.format(
                    "%,d/%,d done (%,d failed), %.1f turns/s, cached %.1f%% of prompt tokens, "
                            + "tools %,d executed / %,d requested, ETA %s",
                    done,
                    total,
                    failed,
                    turnsPerSecond,
                    100 * cachedShare,
                    toolExecutions,
                    toolRequests,
                    eta.map(BatchProgress::format).orElse("unknown"));
        }
    }

    private final LongSupplier nanoClock;
    private final long startedAtMs;
    private final ToolActivity tools = new ToolActivity();
    private final Map<String, String> waitingOn = new HashMap<>();
    private final Set<String> unfinished = new LinkedHashSet<>();
    private String batchId = "";
    private int total;
    private int done;
    private int failed;
    private int doneThisRun;
    private long turns;
    private long promptTokens;
    private long cachedTokens;
    private long submittedNanos;
    private long lastProgressNanos;
    private boolean submitted;

    /**
     * @param nanoClock monotonic time, {@code System::nanoTime} outside tests
     * @param startedAtMs wall-clock start of this run: results finished before it were there already
     */
    BatchProgress(LongSupplier nanoClock, long startedAtMs) {
        this.nanoClock = nanoClock;
        this.startedAtMs = startedAtMs;
    }

    /** The batch is on its topics; the stall clock starts now. */
    synchronized void submitted(BatchClient.Submission submission) {
        batchId = submission.batchId();
        total = submission.jobIds().size();
        unfinished.clear();
        unfinished.addAll(submission.jobIds());
        submittedNanos = nanoClock.getAsLong();
        lastProgressNanos = submittedNanos;
        submitted = true;
    }

    /** The batch's id, once submitted. */
    synchronized String batchId() {
        return batchId;
    }

    /** A job's final result arrived. */
    synchronized void result(AgentResult result) {
        if (!unfinished.remove(result.getJobId())) {
            return;
        }
        done++;
        if (result.getStatus() != JobStatus.SUCCEEDED) {
            failed++;
        }
        if (result.getFinishedAtMs() >= startedAtMs) {
            doneThisRun++;
        }
        waitingOn.remove(result.getJobId());
        promptTokens += result.getUsage().getPromptTokens();
        cachedTokens += result.getUsage().getCachedPromptTokens();
        progressed();
    }

    /** A turn of an unfinished job started (it waits for the engine now). */
    synchronized void turnStarted(AgentTurn turn) {
        if (unfinished.contains(turn.getJobId())) {
            turns++;
            waitingOn.put(turn.getJobId(), "the engine");
            progressed();
        }
    }

    /** An unfinished job now waits on the tool calls of {@code turn}. */
    synchronized void waitingOnTools(AgentTurn turn) {
        if (unfinished.contains(turn.getJobId())) {
            String names = turn.getPendingCalls() == null
                    ? ""
                    : turn.getPendingCalls().stream()
                            .map(call -> call.getName())
                            .distinct()
                            .sorted()
                            .collect(Collectors.joining(", "));
            waitingOn.put(turn.getJobId(), names.isEmpty() ? "tools" : "tools (" + names + ")");
            progressed();
        }
    }

    /** One of an unfinished job's tool calls was answered. */
    synchronized void toolAnswered(ToolResponse response) {
        if (unfinished.contains(response.getJobId())) {
            tools.add(response);
            progressed();
        }
    }

    private void progressed() {
        lastProgressNanos = nanoClock.getAsLong();
    }

    /** Whether the batch was submitted and no job has progressed for {@code timeout}. */
    synchronized boolean stalledFor(Duration timeout) {
        return submitted && !unfinished.isEmpty() && nanoClock.getAsLong() - lastProgressNanos >= timeout.toNanos();
    }

    synchronized Snapshot snapshot() {
        long now = nanoClock.getAsLong();
        double seconds = submitted ? Math.max(1e-3, (now - submittedNanos) / 1e9) : 0;
        long requests = 0;
        long executions = 0;
        for (ToolActivity.Stats stats : tools.summary().values()) {
            requests += stats.requested();
            executions += stats.executed();
        }
        Optional<Duration> eta = doneThisRun == 0
                ? Optional.empty()
                : Optional.of(Duration.ofMillis((long) (1000 * seconds * unfinished.size() / doneThisRun)));
        return new Snapshot(
                total,
                done,
                failed,
                seconds == 0 ? 0 : turns / seconds,
                promptTokens == 0 ? 0 : (double) cachedTokens / promptTokens,
                requests,
                executions,
                eta,
                Duration.ofNanos(submitted ? now - lastProgressNanos : 0));
    }

    /**
     * The stall report: how long nothing moved, how many jobs are unfinished and what they wait on,
     * the first unfinished job ids, and what to do.
     */
    synchronized List<String> stallReport(Duration timeout) {
        Map<String, Integer> byWait = new TreeMap<>();
        for (String jobId : unfinished) {
            String on = waitingOn.get(jobId);
            byWait.merge(on == null ? "with no activity seen by this run" : "waiting on " + on, 1, Integer::sum);
        }
        String waits = byWait.entrySet().stream()
                .map(e -> e.getValue() + " " + e.getKey())
                .collect(Collectors.joining(", "));
        Set<String> first =
                new TreeSet<>(unfinished.stream().limit(REPORTED_JOBS).toList());
        return List.of(
                String.format(
                        "batch %s stalled: no job progressed for %s; %,d of %,d jobs unfinished (%,d done, %,d failed)",
                        batchId, format(timeout), unfinished.size(), total, done, failed),
                "unfinished: " + waits,
                "unfinished jobs" + (unfinished.size() > REPORTED_JOBS ? " (first " + REPORTED_JOBS + ")" : "") + ": "
                        + String.join(", ", first),
                "check that every role runs (topology, inference, tools) and that the engine answers; "
                        + "finished results are kept, and rerunning the same command resumes the batch");
    }

    /** {@code 1h02m}, {@code 3m05s} or {@code 42s}. */
    static String format(Duration duration) {
        long seconds = Math.max(0, duration.toSeconds());
        if (seconds >= 3600) {
            return String.format("%dh%02dm", seconds / 3600, seconds % 3600 / 60);
        }
        return seconds >= 60 ? String.format("%dm%02ds", seconds / 60, seconds % 60) : seconds + "s";
    }
}
