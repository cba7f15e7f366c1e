package io.batchagent.client;

import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolStatus;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Per-tool figures of one batch, for its summary, computed from the {@link ToolResponse}s its agents
 * got (the tool-responses topic, filtered by the batch's job ids): every request an agent made is
 * answered by exactly one response, whichever stage answered it.
 *
 * <ul>
 *   <li>requested: responses (one per call an agent asked for, refused ones included);
 *   <li>coalesced: responses that shared another agent's execution;
 *   <li>executed: times a tool ran (each item of a batched execution counts). A call is told apart by its hash
 *       and its start time: an identical call asked for after the first execution of it had ended runs again
 *       (unless the tool's results are cached), and counts again, as the tool worker counts it;
 *   <li>cache hits: first answers served from the result cache;
 *   <li>errors: responses with status ERROR or TIMEOUT (undeclared tools and bad arguments included);
 *   <li>latency p50 and p95: execution time of the executed calls (nearest rank).
 * </ul>
 *
 * <p>Feed it responses as they arrive (a response seen twice, as after a replay, counts once).
 * Thread-safe.
 */
public final class ToolActivity {

    /** One tool's figures. */
    public record Stats(
            String tool,
            long requested,
            long executed,
            long coalesced,
            long cacheHits,
            long errors,
            long latencyP50Ms,
            long latencyP95Ms) {}

    private final Map<String, Counts> tools = new TreeMap<>();
    private final Set<String> seen = new HashSet<>();

    private static final class Counts {
        long requested;
        long coalesced;
        long cacheHits;
        long errors;
        final Set<String> executed = new HashSet<>();
        final List<Long> latencies = new ArrayList<>();
    }

    /** Counts one response. */
    public synchronized void add(ToolResponse response) {
        if (!seen.add(response.getJobId() + '\u0000' + response.getTurn() + '\u0000' + response.getCallId())) {
            return;
        }
        ToolResult result = response.getResult();
        Counts counts = tools.computeIfAbsent(result.getTool(), t -> new Counts());
        counts.requested++;
        if (response.getCoalesced()) {
            counts.coalesced++;
        }
        if (result.getStatus() != ToolStatus.OK) {
            counts.errors++;
        }
        if (result.getExecuted() && counts.executed.add(result.getCallHash() + '\u0000' + result.getStartedAtMs())) {
            counts.latencies.add(Math.max(0, result.getFinishedAtMs() - result.getStartedAtMs()));
        }
        if (!result.getExecuted() && !response.getCoalesced() && result.getStatus() == ToolStatus.OK) {
            counts.cacheHits++;
        }
    }

    /** The figures so far, by tool name. */
    public synchronized Map<String, Stats> summary() {
        Map<String, Stats> summary = new TreeMap<>();
        tools.forEach((tool, counts) -> {
            List<Long> sorted = new ArrayList<>(counts.latencies);
            Collections.sort(sorted);
            summary.put(
                    tool,
                    new Stats(
                            tool,
                            counts.requested,
                            counts.executed.size(),
                            counts.coalesced,
                            counts.cacheHits,
                            counts.errors,
                            percentile(sorted, 50),
                            percentile(sorted, 95)));
        });
        return summary;
    }

    /** The figures in the Prometheus text format, each labelled with the batch and the tool. */
    public String toPrometheus(String batchId) {
        Map<String, Stats> summary = summary();
        StringBuilder out = new StringBuilder();
        metric(
                out,
                summary,
                batchId,
                "batchagent_batch_tool_requested_total",
                "counter",
                "Tool calls the agents asked for",
                Stats::requested);
        metric(
                out,
                summary,
                batchId,
                "batchagent_batch_tool_executed_total",
                "counter",
                "Tool calls that ran",
                Stats::executed);
        metric(
                out,
                summary,
                batchId,
                "batchagent_batch_tool_coalesced_total",
                "counter",
                "Requests answered by another's execution",
                Stats::coalesced);
        metric(
                out,
                summary,
                batchId,
                "batchagent_batch_tool_cache_hits_total",
                "counter",
                "Calls answered from the result cache",
                Stats::cacheHits);
        metric(
                out,
                summary,
                batchId,
                "batchagent_batch_tool_errors_total",
                "counter",
                "ERROR and TIMEOUT answers",
                Stats::errors);
        out.append("# HELP batchagent_batch_tool_latency_ms Execution time of the tool calls that ran\n")
                .append("# TYPE batchagent_batch_tool_latency_ms summary\n");
        summary.values().forEach(s -> {
            out.append(String.format(
                    Locale.ROOT,
                    "batchagent_batch_tool_latency_ms{batch=\"%s\",tool=\"%s\",quantile=\"0.5\"} %d%n",
                    escape(batchId),
                    escape(s.tool()),
                    s.latencyP50Ms()));
            out.append(String.format(
                    Locale.ROOT,
                    "batchagent_batch_tool_latency_ms{batch=\"%s\",tool=\"%s\",quantile=\"0.95\"} %d%n",
                    escape(batchId),
                    escape(s.tool()),
                    s.latencyP95Ms()));
        });
        return out.toString();
    }

    private static void metric(
            StringBuilder out,
            Map<String, Stats> summary,
            String batchId,
            String name,
            String type,
            String help,
            java.util.function.ToLongFunction<Stats> value) {
        out.append("# HELP ")
                .append(name)
                .append(' ')
                .append(help)
                .append('\n')
                .append("# TYPE ")
                .append(name)
                .append(' ')
                .append(type)
                .append('\n');
        summary.values()
                .forEach(s -> out.append(String.format(
                        Locale.ROOT,
                        "%s{batch=\"%s\",tool=\"%s\"} %d%n",
                        name,
                        escape(batchId),
                        escape(s.tool()),
                        value.applyAsLong(s))));
    }

    private static long percentile(List<Long> sorted, int percent) {
        if (sorted.isEmpty()) {
            return 0;
        }
        int rank = (int) Math.ceil(percent / 100.0 * sorted.size());
        return sorted.get(Math.max(0, rank - 1));
    }

    private static String escape(String label) {
        return label.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
