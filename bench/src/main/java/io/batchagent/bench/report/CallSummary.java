package io.batchagent.bench.report;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.bench.engine.ModelCall;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * What a set of model calls (one condition's, as the recording proxy saw them) adds up to: time to
 * first token per turn, request latency, tokens and the prefix cache hit rate computed from the
 * engine's per-request usage.
 */
public record CallSummary(
        int calls,
        int failedCalls,
        Map<Integer, Stats> ttftMsByTurn,
        Stats ttftMs,
        Stats latencyMs,
        long promptTokens,
        long cachedTokens,
        long completionTokens,
        boolean usageReported,
        Map<String, Long> finishReasons,
        Map<Integer, Double> meanCompletionTokensByTurn) {

    public static CallSummary of(List<ModelCall> calls) {
        Map<Integer, List<ModelCall>> byTurn =
                calls.stream().collect(Collectors.groupingBy(ModelCall::turn, TreeMap::new, Collectors.toList()));
        Map<Integer, Stats> ttftByTurn = new TreeMap<>();
        Map<Integer, Double> completionByTurn = new TreeMap<>();
        byTurn.forEach((turn, list) -> {
            ttftByTurn.put(
                    turn,
                    Stats.of(list.stream()
                            .map(ModelCall::ttftMs)
                            .filter(d -> !d.isNaN())
                            .toList()));
            completionByTurn.put(
                    turn,
                    list.stream()
                            .mapToLong(c -> Math.max(0, c.completionTokens()))
                            .average()
                            .orElse(0));
        });
        boolean usage = calls.stream().anyMatch(c -> c.promptTokens() >= 0);
        return new CallSummary(
                calls.size(),
                (int) calls.stream().filter(c -> !c.ok()).count(),
                ttftByTurn,
                Stats.of(calls.stream()
                        .map(ModelCall::ttftMs)
                        .filter(d -> !d.isNaN())
                        .toList()),
                Stats.of(calls.stream().map(ModelCall::latencyMs).toList()),
                calls.stream().mapToLong(c -> Math.max(0, c.promptTokens())).sum(),
                calls.stream().mapToLong(c -> Math.max(0, c.cachedTokens())).sum(),
                calls.stream().mapToLong(c -> Math.max(0, c.completionTokens())).sum(),
                usage,
                calls.stream()
                        .collect(Collectors.groupingBy(
                                c -> String.valueOf(c.finishReason()), TreeMap::new, Collectors.counting())),
                completionByTurn);
    }

    /** Cached over prompt tokens, or NaN when the engine reported no usage. */
    public double hitRate() {
        return promptTokens == 0 ? Double.NaN : (double) cachedTokens / promptTokens;
    }

    /** Prompt tokens the engine computed (prompt minus cached). */
    public long prefillTokens() {
        return promptTokens - cachedTokens;
    }

    public ObjectNode toJson() {
        ObjectNode node = JsonNodeFactory.instance.objectNode();
        node.put("model_calls", calls);
        node.put("failed_calls", failedCalls);
        ObjectNode ttft = node.putObject("ttft_ms_by_turn");
        ttftMsByTurn.forEach((turn, stats) -> ttft.set(String.valueOf(turn), Json.stats(stats)));
        node.set("ttft_ms", Json.stats(ttftMs));
        node.set("request_latency_ms", Json.stats(latencyMs));
        node.put("usage_reported", usageReported);
        node.put("prompt_tokens", promptTokens);
        node.put("cached_tokens", cachedTokens);
        node.put("prefill_tokens", prefillTokens());
        node.put("completion_tokens", completionTokens);
        Json.putNumber(node, "cache_hit_rate", hitRate());
        ObjectNode finish = node.putObject("finish_reasons");
        finishReasons.forEach(finish::put);
        ObjectNode completion = node.putObject("mean_completion_tokens_by_turn");
        meanCompletionTokensByTurn.forEach((turn, mean) -> Json.putNumber(completion, String.valueOf(turn), mean));
        return node;
    }
}
