package io.batchagent.tools;

import io.batchagent.events.ToolStatus;
import io.batchagent.tools.limits.ToolThreads;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.ValueAtPercentile;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Per-tool metrics of one tool worker, in Micrometer, exported in the Prometheus text format by
 * {@link #scrape()} when the registry is a Prometheus one (the default):
 *
 * <ul>
 *   <li>{@code batchagent_tool_calls_total{tool}}: calls this worker answered (after coalescing; each
 *       item of a batched call counts);
 *   <li>{@code batchagent_tool_executions_total{tool}}: times the tool ran (a batched execution counts once);
 *   <li>{@code batchagent_tool_batched_calls_total{tool}}: calls answered by batched executions;
 *   <li>{@code batchagent_tool_cache_hits_total{tool}}: calls answered from the result cache;
 *   <li>{@code batchagent_tool_errors_total{tool,status}}: ERROR and TIMEOUT results;
 *   <li>{@code batchagent_tool_cache_bypassed_total{tool}}: cache lookups or writes that went without
 *       Redis because it could not be used;
 *   <li>{@code batchagent_tool_limit_fallbacks_total}: times the shared limits fell back to this worker's own;
 *   <li>{@code batchagent_tool_latency_seconds{tool}}: execution time, with p50 and p95;
 *   <li>{@code batchagent_tool_limit_wait_seconds{tool}}: time waited for a rate or concurrency permit;
 *   <li>{@code batchagent_tool_expired_in_queue_total{tool}}: calls answered TIMEOUT without running
 *       because their deadline passed while they were queued;
 *   <li>{@code batchagent_tool_threads} and {@code batchagent_tool_lingering_executions}: threads the
 *       tools run on now, and executions still running after their call timed out.
 * </ul>
 *
 * <p>How many agents asked for each call, and how many of them shared another's execution, is known
 * to the coalescer, not to a worker: {@code ToolActivity} (client module) adds those for a batch summary. Thread-safe.
 */
public final class ToolMetrics {

    private final MeterRegistry registry;
    private final Set<String> tools = ConcurrentHashMap.newKeySet();
    private final Counter limitFallbacks;

    /** Metrics in a new Prometheus registry. */
    public ToolMetrics() {
        this(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
    }

    public ToolMetrics(MeterRegistry registry) {
        this.registry = Objects.requireNonNull(registry, "registry");
        this.limitFallbacks = Counter.builder("batchagent.tool.limit.fallbacks")
                .description("Times the limits shared through Redis fell back to this worker's own limits")
                .register(registry);
    }

    public MeterRegistry registry() {
        return registry;
    }

    /** The Prometheus text exposition of every meter, or empty if the registry is not a Prometheus one. */
    public String scrape() {
        return registry instanceof PrometheusMeterRegistry prometheus ? prometheus.scrape() : "";
    }

    void call(String tool) {
        counter("batchagent.tool.calls", tool, "Calls this worker answered").increment();
    }

    void executed(String tool, Duration latency, int batchSize) {
        counter("batchagent.tool.executions", tool, "Times the tool ran").increment();
        if (batchSize > 0) {
            counter("batchagent.tool.batched.calls", tool, "Calls answered by batched executions")
                    .increment(batchSize);
        }
        latency(tool).record(latency);
    }

    void cacheHit(String tool) {
        counter("batchagent.tool.cache.hits", tool, "Calls answered from the result cache")
                .increment();
    }

    void error(String tool, ToolStatus status) {
        seen(tool);
        errorCounter(tool, status).increment();
    }

    private Counter errorCounter(String tool, ToolStatus status) {
        return Counter.builder("batchagent.tool.errors")
                .description("ERROR and TIMEOUT results")
                .tag("tool", tool)
                .tag("status", status.name().toLowerCase(Locale.ROOT))
                .register(registry);
    }

    /**
     * Registers a tool's counters at zero the first time it is seen, so that a dashboard's rates exist
     * (and read 0) before the first cache hit or error rather than having no series at all.
     */
    private void seen(String tool) {
        if (tools.add(tool)) {
            counter("batchagent.tool.calls", tool, "Calls this worker answered");
            counter("batchagent.tool.executions", tool, "Times the tool ran");
            counter("batchagent.tool.cache.hits", tool, "Calls answered from the result cache");
            errorCounter(tool, ToolStatus.ERROR);
            errorCounter(tool, ToolStatus.TIMEOUT);
        }
    }

    void cacheBypassed(String tool) {
        counter("batchagent.tool.cache.bypassed", tool, "Cache lookups or writes made without Redis")
                .increment();
    }

    void limitFallback() {
        limitFallbacks.increment();
    }

    void expiredInQueue(String tool) {
        counter(
                        "batchagent.tool.expired.in.queue",
                        tool,
                        "Calls answered without running: their deadline passed in the queue")
                .increment();
    }

    void watch(ToolThreads threads) {
        Gauge.builder("batchagent.tool.threads", threads, ToolThreads::threads)
                .description("Threads the tools run on now, busy or idle")
                .register(registry);
        Gauge.builder("batchagent.tool.lingering.executions", threads, ToolThreads::lingering)
                .description("Executions still running after their call timed out")
                .register(registry);
    }

    void limitWait(String tool, Duration waited) {
        Timer.builder("batchagent.tool.limit.wait")
                .description("Time waited for a rate or concurrency permit")
                .tag("tool", tool)
                .register(registry)
                .record(waited);
    }

    /** Per tool, what this worker did so far. */
    public Map<String, ToolStats> snapshot() {
        Map<String, ToolStats> stats = new TreeMap<>();
        for (String tool : tools) {
            Timer latency = latency(tool);
            double p50 = 0;
            double p95 = 0;
            for (ValueAtPercentile value : latency.takeSnapshot().percentileValues()) {
                if (value.percentile() == 0.5) {
                    p50 = value.value(TimeUnit.MILLISECONDS);
                } else if (value.percentile() == 0.95) {
                    p95 = value.value(TimeUnit.MILLISECONDS);
                }
            }
            stats.put(
                    tool,
                    new ToolStats(
                            count("batchagent.tool.calls", tool),
                            count("batchagent.tool.executions", tool),
                            count("batchagent.tool.cache.hits", tool),
                            errors(tool),
                            count("batchagent.tool.cache.bypassed", tool),
                            p50,
                            p95));
        }
        return stats;
    }

    /** Times the shared limits fell back to local ones. */
    public long limitFallbacks() {
        return (long) limitFallbacks.count();
    }

    /**
     * One tool's figures on one worker.
     *
     * @param latencyP50Ms median execution time (from a decaying histogram: recent executions weigh most)
     */
    public record ToolStats(
            long calls,
            long executions,
            long cacheHits,
            long errors,
            long cacheBypassed,
            double latencyP50Ms,
            double latencyP95Ms) {}

    private Counter counter(String name, String tool, String description) {
        seen(tool);
        return Counter.builder(name).description(description).tag("tool", tool).register(registry);
    }

    private Timer latency(String tool) {
        seen(tool);
        return Timer.builder("batchagent.tool.latency")
                .description("Execution time of the tool")
                .tag("tool", tool)
                .publishPercentiles(0.5, 0.95)
                .register(registry);
    }

    private long count(String name, String tool) {
        Counter counter = registry.find(name).tag("tool", tool).counter();
        return counter == null ? 0 : (long) counter.count();
    }

    private long errors(String tool) {
        return (long) registry.find("batchagent.tool.errors").tag("tool", tool).counters().stream()
                .mapToDouble(Counter::count)
                .sum();
    }
}
