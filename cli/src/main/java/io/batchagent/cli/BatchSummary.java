package io.batchagent.cli;

import io.batchagent.client.ToolActivity;
import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import io.batchagent.events.WarmUpOutcome;
import io.batchagent.inference.EngineMetrics;
import io.batchagent.inference.FlowSummary;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The outcome of one batch run.
 *
 * @param batchId the batch
 * @param results the final result of every job, in input order
 * @param wall wall-clock time of this run (for a resumed batch: of this run only)
 * @param toolExecutions tool executions this process performed for the run (0 when tools ran elsewhere)
 * @param resumed jobs that already had a final result before this run started
 * @param engine the engine's own counters over the run (from its /metrics), or null when not scraped
 * @param tools per-tool activity of the batch's jobs, or empty
 * @param flow how this process's inference worker paced model calls (in flight, time paused), or null when none ran here
 */
public record BatchSummary(
        String batchId,
        List<AgentResult> results,
        Duration wall,
        long toolExecutions,
        int resumed,
        EngineMetrics.Delta engine,
        Map<String, ToolActivity.Stats> tools,
        FlowSummary flow) {

    public BatchSummary {
        tools = tools == null ? Map.of() : Map.copyOf(tools);
    }

    public BatchSummary(String batchId, List<AgentResult> results, Duration wall, long toolExecutions, int resumed) {
        this(batchId, results, wall, toolExecutions, resumed, null, Map.of(), null);
    }

    /** How many jobs' batches had each warm-up outcome (jobs whose worker did not warm are left out). */
    public Map<WarmUpOutcome, Long> warmUps() {
        return results.stream()
                .filter(r -> r.getWarmUp() != null)
                .collect(Collectors.groupingBy(
                        r -> r.getWarmUp().getOutcome(),
                        () -> new EnumMap<>(WarmUpOutcome.class),
                        Collectors.counting()));
    }

    public long succeeded() {
        return results.stream()
                .filter(r -> r.getStatus() == JobStatus.SUCCEEDED)
                .count();
    }

    public long failed() {
        return results.size() - succeeded();
    }

    public long promptTokens() {
        return results.stream().mapToLong(r -> r.getUsage().getPromptTokens()).sum();
    }

    public long cachedPromptTokens() {
        return results.stream()
                .mapToLong(r -> r.getUsage().getCachedPromptTokens())
                .sum();
    }

    public long completionTokens() {
        return results.stream()
                .mapToLong(r -> r.getUsage().getCompletionTokens())
                .sum();
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
                        batchId,
                        results.size(),
                        succeeded(),
                        failed(),
                        resumed > 0 ? " (" + resumed + " already finished before this run)" : "",
                        wall.toMillis() / 1000.0,
                        promptTokens(),
                        cachedPromptTokens(),
                        hit,
                        completionTokens(),
                        toolCallsRequested(),
                        toolExecutions)
                + warmUpLine()
                + engineLine()
                + toolLines()
                + (flow == null ? "" : String.format("%nmodel calls: %s", flow.describe()));
    }

    private String warmUpLine() {
        Map<WarmUpOutcome, Long> outcomes = warmUps();
        if (outcomes.isEmpty()) {
            return "";
        }
        String detail = results.stream()
                .filter(r -> r.getWarmUp() != null && r.getWarmUp().getDetail() != null)
                .map(r -> r.getWarmUp().getDetail())
                .findFirst()
                .orElse("");
        return String.format("%nwarm-up: %s%s", outcomes, detail.isEmpty() ? "" : " (" + detail + ")");
    }

    private String toolLines() {
        StringBuilder lines = new StringBuilder();
        tools.values()
                .forEach(t -> lines.append(String.format(
                        "%ntool %s: requested %d, executed %d, coalesced %d, cache hits %d, errors %d, latency p50 %d ms p95 %d ms",
                        t.tool(),
                        t.requested(),
                        t.executed(),
                        t.coalesced(),
                        t.cacheHits(),
                        t.errors(),
                        t.latencyP50Ms(),
                        t.latencyP95Ms())));
        return lines.toString();
    }

    private String engineLine() {
        if (engine == null || engine.family() == null) {
            return "";
        }
        return String.format(
                "%nengine counters (%s): prompt tokens %s, cached %s, hit rate %s",
                engine.family(),
                format(engine.promptTokens(), "%,.0f"),
                format(engine.cachedTokens(), "%,.0f"),
                engine.hitRate().isPresent()
                        ? String.format("%.1f%%", 100 * engine.hitRate().getAsDouble())
                        : "n/a");
    }

    private static String format(java.util.OptionalDouble value, String pattern) {
        return value.isPresent() ? String.format(pattern, value.getAsDouble()) : "n/a";
    }
}
