package io.batchagent.cli;

import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import java.time.Duration;
import java.util.List;

/**
 * The outcome of one batch run.
 *
 * @param batchId the batch
 * @param results the final result of every job, in input order
 * @param wall wall-clock time of this run (for a resumed batch: of this run only)
 * @param toolExecutions tool executions this process performed for the run (0 when tools ran elsewhere)
 * @param resumed jobs that already had a final result before this run started
 */
public record BatchSummary(String batchId, List<AgentResult> results, Duration wall, long toolExecutions, int resumed) {

    public long succeeded() {
        return results.stream().filter(r -> r.getStatus() == JobStatus.SUCCEEDED).count();
    }

    public long failed() {
        return results.size() - succeeded();
    }

    public long promptTokens() {
        return results.stream().mapToLong(r -> r.getUsage().getPromptTokens()).sum();
    }

    public long cachedPromptTokens() {
        return results.stream().mapToLong(r -> r.getUsage().getCachedPromptTokens()).sum();
    }

    public long completionTokens() {
        return results.stream().mapToLong(r -> r.getUsage().getCompletionTokens()).sum();
    }

    public long toolCallsRequested() {
        return results.stream().mapToLong(AgentResult::getToolCallsRequested).sum();
    }

    /** A few human-readable lines. */
    public String describe() {
        double hit = promptTokens() == 0 ? 0 : 100.0 * cachedPromptTokens() / promptTokens();
        return String.format(
                "batch %s: %d jobs, %d succeeded, %d failed%s%n"
                        + "wall %.2f s; prompt tokens %,d (cached %,d, %.1f%%); completion tokens %,d%n"
                        + "tool calls requested %d, executed %d",
                batchId, results.size(), succeeded(), failed(),
                resumed > 0 ? " (" + resumed + " already finished before this run)" : "",
                wall.toMillis() / 1000.0, promptTokens(), cachedPromptTokens(), hit, completionTokens(),
                toolCallsRequested(), toolExecutions);
    }
}
