package io.batchagent.inference;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalDouble;

/**
 * A snapshot of an engine's own prefix-cache counters, read from its Prometheus {@code /metrics} page, so
 * that a batch summary can put them beside the per-request usage. Samples of one metric are summed over
 * their labels (SGLang labels cached tokens by {@code cache_source}, for instance).
 *
 * <p>Families read, by engine:
 * <ul>
 *   <li>vLLM: {@code vllm:prefix_cache_queries_total} and {@code vllm:prefix_cache_hits_total} (tokens
 *       queried and found cached), {@code vllm:prompt_tokens_total};
 *   <li>SGLang: {@code sglang:prompt_tokens_total}, {@code sglang:cached_tokens_total}, and the gauge
 *       {@code sglang:cache_hit_rate};
 *   <li>the simulator: {@code sim:prompt_tokens_total}, {@code sim:cached_tokens_total} (it also exposes
 *       the two families above).
 * </ul>
 *
 * @param family which family the figures come from ({@code vllm}, {@code sglang}, {@code sim}), or null
 *     when the page has none of them (or there is no page)
 * @param promptTokens prompt tokens the engine counted (vLLM: prefix cache queries); empty if not exposed
 * @param cachedTokens prompt tokens it served from its cache (vLLM: prefix cache hits); empty if not exposed
 * @param hitRate the engine's own hit-rate gauge (SGLang); empty elsewhere
 * @param samples every sample of the family, summed per metric name, for reports
 */
public record EngineMetrics(
        String family,
        OptionalDouble promptTokens,
        OptionalDouble cachedTokens,
        OptionalDouble hitRate,
        Map<String, Double> samples) {

    /** No metrics page, or none of the known families on it. */
    public static final EngineMetrics NONE =
            new EngineMetrics(null, OptionalDouble.empty(), OptionalDouble.empty(), OptionalDouble.empty(), Map.of());

    public EngineMetrics {
        samples = samples == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(samples));
    }

    /**
     * The difference between two snapshots of the same engine: what happened in between.
     *
     * @param family the family both came from
     * @param promptTokens prompt tokens counted in between; empty if not exposed
     * @param cachedTokens cached prompt tokens in between; empty if not exposed
     * @param hitRate cached over prompt tokens in between; empty when either is missing or nothing was counted
     */
    public record Delta(
            String family, OptionalDouble promptTokens, OptionalDouble cachedTokens, OptionalDouble hitRate) {}

    /** What changed since {@code before} (a snapshot of the same engine taken earlier). */
    public Delta since(EngineMetrics before) {
        OptionalDouble prompt = minus(promptTokens, before.promptTokens);
        OptionalDouble cached = minus(cachedTokens, before.cachedTokens);
        OptionalDouble rate = prompt.isPresent() && cached.isPresent() && prompt.getAsDouble() > 0
                ? OptionalDouble.of(cached.getAsDouble() / prompt.getAsDouble())
                : OptionalDouble.empty();
        return new Delta(family, prompt, cached, rate);
    }

    /**
     * Requests waiting in the engine's queue, not yet admitted to a batch ({@code vllm:num_requests_waiting},
     * {@code sglang:num_queue_reqs}, {@code sim:num_requests_waiting}); empty if the page has none.
     */
    public OptionalDouble queueDepth() {
        return family == null
                ? OptionalDouble.empty()
                : first(samples, family + ":num_requests_waiting", family + ":num_queue_reqs");
    }

    /**
     * Requests in the engine's running batch ({@code vllm:num_requests_running}, {@code sglang:num_running_reqs},
     * {@code sim:num_requests_running}); empty if the page has none.
     */
    public OptionalDouble runningRequests() {
        return family == null
                ? OptionalDouble.empty()
                : first(samples, family + ":num_requests_running", family + ":num_running_reqs");
    }

    /**
     * The share of the engine's KV pool that running requests hold, 0 to 1: {@code vllm:kv_cache_usage_perc}
     * (before vLLM V1 {@code vllm:gpu_cache_usage_perc}), {@code sglang:token_usage},
     * {@code sim:kv_active_usage}; empty if the page has none.
     */
    public OptionalDouble kvUsage() {
        return family == null
                ? OptionalDouble.empty()
                : first(
                        samples,
                        family + ":kv_cache_usage_perc",
                        family + ":gpu_cache_usage_perc",
                        family + ":token_usage",
                        family + ":kv_active_usage");
    }

    /**
     * The size of the engine's KV pool in tokens: SGLang's {@code sglang:max_total_num_tokens}; vLLM's
     * {@code vllm:cache_config_info} labels {@code num_gpu_blocks} times {@code block_size}; the simulator's
     * {@code sim:kv_capacity_tokens}. Empty if the page has none.
     */
    public OptionalDouble kvCapacityTokens() {
        if (family == null) {
            return OptionalDouble.empty();
        }
        OptionalDouble direct = first(samples, family + ":max_total_num_tokens", family + ":kv_capacity_tokens");
        if (direct.isPresent()) {
            return direct;
        }
        OptionalDouble blocks = first(samples, family + ":cache_config_info{num_gpu_blocks}");
        OptionalDouble blockSize = first(samples, family + ":cache_config_info{block_size}");
        return blocks.isPresent() && blockSize.isPresent()
                ? OptionalDouble.of(blocks.getAsDouble() * blockSize.getAsDouble())
                : OptionalDouble.empty();
    }

    /** Parses a Prometheus text page, preferring the family {@code preferred} (e.g. the endpoint's kind) when present. */
    static EngineMetrics parse(String page, String preferred) {
        Map<String, Double> all = sums(page);
        String family = preferred != null && all.keySet().stream().anyMatch(name -> name.startsWith(preferred + ":"))
                ? preferred
                : familyOf(all);
        if (family == null) {
            return NONE;
        }
        Map<String, Double> samples = new LinkedHashMap<>();
        all.forEach((name, value) -> {
            if (name.startsWith(family + ":")) {
                samples.put(name, value);
            }
        });
        return switch (family) {
            case "vllm" ->
                new EngineMetrics(
                        family,
                        first(samples, "vllm:prefix_cache_queries_total", "vllm:prefix_cache_queries"),
                        first(samples, "vllm:prefix_cache_hits_total", "vllm:prefix_cache_hits"),
                        OptionalDouble.empty(),
                        samples);
            case "sglang" ->
                new EngineMetrics(
                        family,
                        first(samples, "sglang:prompt_tokens_total"),
                        first(samples, "sglang:cached_tokens_total"),
                        first(samples, "sglang:cache_hit_rate"),
                        samples);
            default ->
                new EngineMetrics(
                        family,
                        first(samples, "sim:prompt_tokens_total"),
                        first(samples, "sim:cached_tokens_total"),
                        first(samples, "sim:cache_hit_rate"),
                        samples);
        };
    }

    /** The engine metric family a page exposes ({@code vllm}, {@code sglang} or {@code sim}), or null. */
    static String family(String page) {
        return familyOf(sums(page));
    }

    private static String familyOf(Map<String, Double> all) {
        // The simulator exposes every family; a real engine never exposes sim:*.
        for (String family : new String[] {"sim", "vllm", "sglang"}) {
            String prefix = family + ":";
            if (all.keySet().stream().anyMatch(name -> name.startsWith(prefix))) {
                return family;
            }
        }
        return null;
    }

    /** Every sample's value, summed per metric name; comments, blanks and unreadable lines skipped. */
    private static Map<String, Double> sums(String page) {
        Map<String, Double> sums = new LinkedHashMap<>();
        if (page == null) {
            return sums;
        }
        for (String raw : page.split("\n")) {
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int nameEnd = 0;
            while (nameEnd < line.length()
                    && line.charAt(nameEnd) != '{'
                    && !Character.isWhitespace(line.charAt(nameEnd))) {
                nameEnd++;
            }
            String name = line.substring(0, nameEnd);
            String rest = line.substring(nameEnd);
            if (rest.startsWith("{")) {
                int close = rest.lastIndexOf('}');
                if (close < 0) {
                    continue;
                }
                if (name.endsWith(":cache_config_info")) {
                    // vLLM publishes its KV pool's size only as labels of an info gauge: kept as name{label} samples.
                    infoLabels(name, rest.substring(1, close), sums);
                }
                rest = rest.substring(close + 1);
            }
            String[] parts = rest.strip().split("\\s+");
            if (name.isEmpty() || parts.length == 0 || parts[0].isEmpty()) {
                continue;
            }
            try {
                double value = Double.parseDouble(parts[0]);
                if (!Double.isNaN(value)) {
                    sums.merge(name, value, Double::sum);
                }
            } catch (NumberFormatException e) {
                // Not a sample line.
            }
        }
        return sums;
    }

    /** The numeric labels {@code num_gpu_blocks} and {@code block_size} of an info gauge, as {@code name{label}} samples. */
    private static void infoLabels(String name, String labels, Map<String, Double> sums) {
        for (String pair : labels.split(",")) {
            int eq = pair.indexOf('=');
            if (eq < 0) {
                continue;
            }
            String label = pair.substring(0, eq).strip();
            if (!label.equals("num_gpu_blocks") && !label.equals("block_size")) {
                continue;
            }
            String value = pair.substring(eq + 1).strip().replace("\"", "");
            try {
                sums.put(name + "{" + label + "}", Double.parseDouble(value));
            } catch (NumberFormatException e) {
                // "None" before the engine has profiled its memory.
            }
        }
    }

    private static OptionalDouble first(Map<String, Double> samples, String... names) {
        for (String name : names) {
            Double value = samples.get(name);
            if (value != null) {
                return OptionalDouble.of(value);
            }
        }
        return OptionalDouble.empty();
    }

    private static OptionalDouble minus(OptionalDouble after, OptionalDouble before) {
        return after.isPresent() && before.isPresent()
                ? OptionalDouble.of(after.getAsDouble() - before.getAsDouble())
                : OptionalDouble.empty();
    }
}
