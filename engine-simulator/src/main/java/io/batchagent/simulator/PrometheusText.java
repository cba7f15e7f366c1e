package io.batchagent.simulator;

import java.util.Locale;

/**
 * The {@code GET /metrics} page in Prometheus text format 0.0.4, labelled with the served model name;
 * every figure is SIMULATED. The simulator's own family is {@code sim:*}; the same counters are also
 * exposed under the names SGLang ({@code sglang:prompt_tokens_total}, {@code sglang:cached_tokens_total},
 * {@code sglang:cache_hit_rate}, ...) and vLLM ({@code vllm:prompt_tokens_total},
 * {@code vllm:prefix_cache_queries_total}, {@code vllm:prefix_cache_hits_total}, ...) publish, so that a
 * client reading an engine's metrics reads the simulator's the same way.
 */
final class PrometheusText {

    private PrometheusText() {}

    static String render(
            String modelName,
            EngineProfile profile,
            SimulatorStats stats,
            EngineCounters counters,
            BatchScheduler.Occupancy occupancy) {
        String labels = "{model_name=\"" + modelName.replace("\\", "\\\\").replace("\"", "\\\"") + "\"}";
        StringBuilder out = new StringBuilder(2048);
        out.append("# Engine simulator (SIMULATED figures), profile ")
                .append(profile.name())
                .append('\n');
        counter(out, labels, "sim:requests_total", "Chat completions answered.", stats.requests());
        counter(out, labels, "sim:prompt_tokens_total", "Prompt tokens of admitted requests.", stats.promptTokens());
        counter(
                out,
                labels,
                "sim:cached_tokens_total",
                "Prompt tokens found in the prefix cache at admission.",
                stats.cachedTokens());
        counter(
                out,
                labels,
                "sim:prefill_tokens_computed_total",
                "Prompt tokens prefilled (not cached).",
                stats.prefillTokensComputed());
        counter(out, labels, "sim:completion_tokens_total", "Output tokens emitted.", stats.completionTokens());
        counter(out, labels, "sim:steps_total", "Scheduler steps that prefilled or emitted.", stats.steps());
        counter(
                out,
                labels,
                "sim:engine_busy_seconds_total",
                "SIMULATED engine time charged by the profile's cost formula, before the speedup.",
                stats.simulatedEngineMillis() / 1000);
        String errorLabels = labels.substring(0, labels.length() - 1);
        out.append("# HELP sim:request_errors_total Chat completions answered with an error, by kind.\n")
                .append("# TYPE sim:request_errors_total counter\n")
                .append("sim:request_errors_total")
                .append(errorLabels)
                .append(",kind=\"client\"} ")
                .append(counters.clientErrors.get())
                .append('\n')
                .append("sim:request_errors_total")
                .append(errorLabels)
                .append(",kind=\"server\"} ")
                .append(counters.serverErrors.get())
                .append('\n');
        out.append("# HELP sim:faults_injected_total SIMULATED faults injected into chat completions, by kind.\n")
                .append("# TYPE sim:faults_injected_total counter\n");
        for (EngineFaults.Fault fault : EngineFaults.Fault.values()) {
            if (fault != EngineFaults.Fault.NONE) {
                out.append("sim:faults_injected_total")
                        .append(errorLabels)
                        .append(",kind=\"")
                        .append(fault.name().toLowerCase(Locale.ROOT))
                        .append("\"} ")
                        .append(counters.faultsInjected(fault))
                        .append('\n');
            }
        }
        counter(
                out,
                labels,
                "sim:repeated_calls_total",
                "Requests for a conversation already answered in full (the same turn of the same agent again).",
                counters.repeatedCalls.get());
        counter(
                out,
                labels,
                "sim:evicted_tokens_total",
                "Tokens evicted from the prefix cache or flushed.",
                occupancy.evictedTokens());
        gauge(out, labels, "sim:num_requests_running", "Requests in the running batch.", occupancy.running());
        gauge(out, labels, "sim:num_requests_waiting", "Requests queued for admission.", occupancy.waiting());
        gauge(
                out,
                labels,
                "sim:requests_in_flight",
                "Chat-completion HTTP requests not yet fully answered.",
                stats.inFlight());
        gauge(
                out,
                labels,
                "sim:requests_in_flight_peak",
                "Most requests in flight since start or reset.",
                stats.peakInFlight());
        gauge(out, labels, "sim:cache_tokens", "Tokens held in the radix prefix cache.", occupancy.cachedTokens());
        gauge(out, labels, "sim:kv_capacity_tokens", "KV pool size in tokens.", occupancy.capacityTokens());
        gauge(
                out,
                labels,
                "sim:cache_usage",
                "Fraction of the KV pool in use (cache plus reservations).",
                occupancy.usage());
        gauge(
                out,
                labels,
                "sim:kv_active_usage",
                "Fraction of the KV pool held by running requests (evictable cache not counted).",
                occupancy.activeUsage());
        gauge(
                out,
                labels,
                "sim:cache_hit_rate",
                "Cached over prompt tokens since start or reset.",
                stats.cacheHitRate());

        // SGLang's names for the same figures.
        counter(out, labels, "sglang:prompt_tokens_total", "Number of prefill tokens processed.", stats.promptTokens());
        counter(out, labels, "sglang:cached_tokens_total", "Number of cached prompt tokens.", stats.cachedTokens());
        counter(
                out,
                labels,
                "sglang:generation_tokens_total",
                "Number of generation tokens processed.",
                stats.completionTokens());
        counter(out, labels, "sglang:num_requests_total", "Number of requests processed.", stats.requests());
        gauge(out, labels, "sglang:cache_hit_rate", "The prefix cache hit rate.", stats.cacheHitRate());
        gauge(out, labels, "sglang:num_running_reqs", "The number of running requests.", occupancy.running());
        gauge(
                out,
                labels,
                "sglang:num_queue_reqs",
                "The number of requests in the waiting queue.",
                occupancy.waiting());
        gauge(out, labels, "sglang:token_usage", "The token usage.", occupancy.activeUsage());
        gauge(
                out,
                labels,
                "sglang:max_total_num_tokens",
                "Maximum total number of tokens in the KV cache pool.",
                occupancy.capacityTokens());

        // vLLM's names for the same figures (prefix cache queries and hits count tokens).
        counter(out, labels, "vllm:prompt_tokens_total", "Number of prefill tokens processed.", stats.promptTokens());
        counter(
                out,
                labels,
                "vllm:generation_tokens_total",
                "Number of generation tokens processed.",
                stats.completionTokens());
        counter(
                out,
                labels,
                "vllm:prefix_cache_queries_total",
                "Prefix cache queries, in terms of number of queried tokens.",
                stats.promptTokens());
        counter(
                out,
                labels,
                "vllm:prefix_cache_hits_total",
                "Prefix cache hits, in terms of number of cached tokens.",
                stats.cachedTokens());
        gauge(
                out,
                labels,
                "vllm:num_requests_running",
                "Number of requests in model execution batches.",
                occupancy.running());
        gauge(
                out,
                labels,
                "vllm:num_requests_waiting",
                "Number of requests waiting to be processed.",
                occupancy.waiting());
        gauge(
                out,
                labels,
                "vllm:kv_cache_usage_perc",
                "KV-cache usage. 1 means 100 percent usage.",
                occupancy.activeUsage());
        // vLLM publishes its pool's size as labels of an info gauge (blocks of 16 tokens by default).
        out.append("# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\n")
                .append("# TYPE vllm:cache_config_info gauge\n")
                .append("vllm:cache_config_info{block_size=\"16\",num_gpu_blocks=\"")
                .append(format(Math.floor(occupancy.capacityTokens() / 16.0)))
                .append("\"} 1\n");
        return out.toString();
    }

    private static void counter(StringBuilder out, String labels, String name, String help, double value) {
        metric(out, labels, name, help, "counter", value);
    }

    private static void gauge(StringBuilder out, String labels, String name, String help, double value) {
        metric(out, labels, name, help, "gauge", value);
    }

    private static void metric(StringBuilder out, String labels, String name, String help, String type, double value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
        out.append(name).append(labels).append(' ').append(format(value)).append('\n');
    }

    private static String format(double value) {
        if (value == Math.rint(value) && Math.abs(value) < 1e15) {
            return Long.toString((long) value);
        }
        return String.format(Locale.ROOT, "%.6f", value);
    }
}
