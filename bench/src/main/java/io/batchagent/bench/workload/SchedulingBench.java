package io.batchagent.bench.workload;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.bench.engine.EngineTarget;
import io.batchagent.bench.engine.ModelCall;
import io.batchagent.bench.engine.RecordingProxy;
import io.batchagent.bench.harness.KafkaHarness;
import io.batchagent.bench.report.Json;
import io.batchagent.bench.report.Markdown;
import io.batchagent.bench.report.Report;
import io.batchagent.bench.report.Stats;
import io.batchagent.inference.FlowControl;
import io.batchagent.inference.SchedulingPolicy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * {@code bench/run sched}: condition C of W1, W2 and W3 under each inference-worker dispatch policy
 * ({@link SchedulingPolicy}), side by side: each repetition runs every policy once, in an order that rotates by
 * repetition, on the same engine with its cache flushed before each run. Per run: wall clock, per-agent latency
 * (batch start to the agent's last model call's end) and residency (its first model call's arrival to its last
 * one's end), and prefill tokens (prompt minus cached, the warm-up included). The figures are reported as ratios to
 * continuing-first measured in the same repetition.
 */
public final class SchedulingBench {

    /** One workload measured under each policy. */
    record Part(
            String name,
            String title,
            BatchShape shape,
            int maxInflight,
            String simToolRule,
            Map<String, String> toolOptions,
            double speedup) {}

    /** One policy's run of one part. */
    record Run(
            String part,
            SchedulingPolicy policy,
            int rep,
            double wallSeconds,
            int jobs,
            int succeeded,
            double latencyP95Seconds,
            double latencyP50Seconds,
            double residencyP95Seconds,
            long prefillTokens,
            long warmupPrefillTokens) {}

    static final List<String> DEFAULT_PARTS = List.of("W1", "W2", "W3");

    private SchedulingBench() {}

    public static Path run(BenchOptions options, List<String> partNames, List<SchedulingPolicy> policies)
            throws Exception {
        Report.Start start = Report.Start.now();
        List<SchedulingPolicy> measured =
                policies == null || policies.isEmpty() ? List.of(SchedulingPolicy.values()) : policies;
        List<Part> parts = new ArrayList<>();
        for (String name : partNames == null || partNames.isEmpty() ? DEFAULT_PARTS : partNames) {
            parts.add(part(name.toUpperCase(Locale.ROOT), options));
        }
        List<Run> runs = new ArrayList<>();
        String description = null;
        boolean simulated = false;
        for (Part part : parts) {
            try (EngineTarget engine = EngineTarget.open(options.engineUrl(), part.speedup(), part.simToolRule());
                    RecordingProxy proxy = RecordingProxy.start(engine.httpBase());
                    KafkaHarness harness = KafkaHarness.start(options.workDir().resolve("sched-" + part.name()));
                    Conditions conditions = new Conditions(engine, proxy, part.maxInflight(), options.apiKey())) {
                description = engine.describe();
                simulated = engine.simulated();
                for (int rep = 0; rep < options.reps(); rep++) {
                    for (int i = 0; i < measured.size(); i++) {
                        SchedulingPolicy policy = measured.get((i + rep) % measured.size());
                        String id = "sched-" + part.name() + "-r" + rep + "-" + policy.settingName();
                        Conditions.Outcome outcome = conditions.batchAgent(
                                policy.settingName(),
                                part.shape(),
                                id,
                                harness,
                                id + "-",
                                part.maxInflight(),
                                FlowControl.defaults().withScheduling(policy),
                                part.toolOptions(),
                                true,
                                Duration.ofMinutes(10));
                        Run run = measure(part.name(), policy, rep, outcome);
                        runs.add(run);
                        System.err.printf(
                                Locale.ROOT,
                                "sched %s rep %d %s: wall %.2f s, agent latency p95 %.2f s, prefill %,d (warm-up %,d), %d/%d ok%n",
                                part.name(),
                                rep,
                                policy.settingName(),
                                run.wallSeconds(),
                                run.latencyP95Seconds(),
                                run.prefillTokens(),
                                run.warmupPrefillTokens(),
                                run.succeeded(),
                                run.jobs());
                    }
                }
            }
        }
        return report(options, start, parts, measured, runs, description, simulated);
    }

    static Part part(String name, BenchOptions options) {
        return switch (name) {
            case "W1" ->
                new Part(
                        "W1",
                        "W1 research summary, prompt 2,048 tokens (20 agents, 400 ms search, max_inflight 8)",
                        ResearchSummary.shape(2_048, options.model()),
                        8,
                        ResearchSummary.SIM_TOOL_RULE,
                        Map.of("bench_web_search.latency.ms", "400"),
                        options.speedup());
            case "W2" ->
                new Part(
                        "W2",
                        "W2 slow shared tool (100 agents, 800 ms tool, max_inflight 32)",
                        SlowSharedTool.shape(options.model()),
                        32,
                        SlowSharedTool.SIM_TOOL_RULE,
                        Map.of("slow_company_lookup.latency.ms", "800"),
                        options.speedup());
            case "W3" ->
                new Part(
                        "W3",
                        "W3 shared-prefix sessions (100 sessions, ~12.4k-token prefix, max_inflight "
                                + SharedPrefixSessions.KV_BOUNDED_INFLIGHT + ", simulator speedup 10)",
                        SharedPrefixSessions.shape(100, options.model()),
                        SharedPrefixSessions.KV_BOUNDED_INFLIGHT,
                        SharedPrefixSessions.SIM_TOOL_RULE,
                        Map.of(),
                        10);
            default -> throw new IllegalArgumentException("sched: unknown part '" + name + "'; use W1, W2, W3");
        };
    }

    /** The run's figures from the calls the proxy recorded (the warm-up is the batch's first call). */
    static Run measure(String part, SchedulingPolicy policy, int rep, Conditions.Outcome outcome) {
        List<ModelCall> calls = outcome.calls();
        long batchStart =
                calls.stream().mapToLong(ModelCall::arrivedNanos).min().orElse(0);
        Map<String, long[]> spans = new LinkedHashMap<>();
        long prefill = 0;
        long warmupPrefill = 0;
        for (ModelCall call : calls) {
            long cold = Math.max(0, call.promptTokens()) - Math.max(0, call.cachedTokens());
            prefill += cold;
            if (call.warmup()) {
                warmupPrefill += cold;
                continue;
            }
            spans.merge(call.agentKey(), new long[] {call.arrivedNanos(), call.endNanos()}, (a, b) ->
                    new long[] {Math.min(a[0], b[0]), Math.max(a[1], b[1])});
        }
        double[] latency = spans.values().stream()
                .mapToDouble(s -> (s[1] - batchStart) / 1e9)
                .toArray();
        double[] residency =
                spans.values().stream().mapToDouble(s -> (s[1] - s[0]) / 1e9).toArray();
        Stats latencies = Stats.of(latency);
        return new Run(
                part,
                policy,
                rep,
                outcome.wallSeconds(),
                outcome.jobs(),
                outcome.succeeded(),
                latencies.p95(),
                latencies.p50(),
                Stats.of(residency).p95(),
                prefill,
                warmupPrefill);
    }

    private static Path report(
            BenchOptions options,
            Report.Start start,
            List<Part> parts,
            List<SchedulingPolicy> policies,
            List<Run> runs,
            String description,
            boolean simulated) {
        Report report = new Report("scheduling", options.command(), options.engineUrl(), description, simulated);
        start.applyTo(report);
        ObjectNode config = report.config();
        config.put("repetitions", options.reps());
        config.put(
                "order",
                "each repetition runs every policy once; the order rotates by one policy per repetition; the engine "
                        + "cache is flushed and a new pipeline started before each run");
        config.putPOJO(
                "policies", policies.stream().map(SchedulingPolicy::settingName).toList());
        for (Part part : parts) {
            ObjectNode p = config.putObject(part.name());
            p.put("title", part.title());
            p.put("agents", part.shape().inputs().size());
            p.put("max_inflight", part.maxInflight());
            p.put("speedup", part.speedup());
            p.putPOJO("tool_options", part.toolOptions());
        }
        runs.forEach(r -> {
            ObjectNode node = report.runs().addObject();
            node.put("part", r.part());
            node.put("policy", r.policy().settingName());
            node.put("rep", r.rep());
            Json.putNumber(node, "wall_s", r.wallSeconds());
            node.put("jobs", r.jobs());
            node.put("succeeded", r.succeeded());
            Json.putNumber(node, "agent_latency_p50_s", r.latencyP50Seconds());
            Json.putNumber(node, "agent_latency_p95_s", r.latencyP95Seconds());
            Json.putNumber(node, "agent_residency_p95_s", r.residencyP95Seconds());
            node.put("prefill_tokens_with_warmup", r.prefillTokens());
            node.put("warmup_prefill_tokens", r.warmupPrefillTokens());
        });
        StringBuilder markdown = new StringBuilder();
        SchedulingPolicy reference = policies.contains(SchedulingPolicy.CONTINUING_FIRST)
                ? SchedulingPolicy.CONTINUING_FIRST
                : policies.get(0);
        for (Part part : parts) {
            List<List<String>> rows = new ArrayList<>();
            ObjectNode summary = report.summary().putObject(part.name());
            for (SchedulingPolicy policy : policies) {
                List<Run> mine = of(runs, part.name(), policy);
                double[] wall = mine.stream().mapToDouble(Run::wallSeconds).toArray();
                double[] p95 = mine.stream().mapToDouble(Run::latencyP95Seconds).toArray();
                double[] residency =
                        mine.stream().mapToDouble(Run::residencyP95Seconds).toArray();
                double[] prefill = mine.stream().mapToDouble(Run::prefillTokens).toArray();
                double[] wallRatio = ratios(runs, part.name(), policy, reference, Run::wallSeconds);
                double[] p95Ratio = ratios(runs, part.name(), policy, reference, Run::latencyP95Seconds);
                double[] prefillRatio = ratios(runs, part.name(), policy, reference, r -> r.prefillTokens());
                int okMin = mine.stream().mapToInt(Run::succeeded).min().orElse(0);
                ObjectNode s = summary.putObject(policy.settingName());
                Json.putNumber(s, "wall_s_median", Stats.median(wall));
                Json.putNumber(s, "wall_ratio_to_" + reference.settingName() + "_median", Stats.median(wallRatio));
                Json.putNumber(s, "agent_latency_p95_s_median", Stats.median(p95));
                Json.putNumber(
                        s, "agent_latency_p95_ratio_to_" + reference.settingName() + "_median", Stats.median(p95Ratio));
                Json.putNumber(s, "agent_residency_p95_s_median", Stats.median(residency));
                Json.putNumber(s, "prefill_tokens_with_warmup_median", Stats.median(prefill));
                Json.putNumber(
                        s, "prefill_ratio_to_" + reference.settingName() + "_median", Stats.median(prefillRatio));
                rows.add(List.of(
                        policy.settingName(),
                        spread(wall, 2),
                        spread(wallRatio, 3),
                        spread(p95, 2),
                        spread(p95Ratio, 3),
                        spread(residency, 2),
                        spread(prefill, 0),
                        spread(prefillRatio, 3),
                        okMin + "/" + part.shape().inputs().size()));
            }
            report.readmeRow(
                    "Dispatch policy, " + part.title(),
                    policies.stream()
                                    .map(policy -> {
                                        ObjectNode p = (ObjectNode) summary.path(policy.settingName());
                                        return policy.settingName() + ": wall "
                                                + Markdown.num(
                                                        p.path("wall_s_median").asDouble(), 2) + " s ("
                                                + Markdown.num(
                                                        p.path("wall_ratio_to_" + reference.settingName() + "_median")
                                                                .asDouble(),
                                                        3)
                                                + "x), agent p95 "
                                                + Markdown.num(
                                                        p.path("agent_latency_p95_s_median")
                                                                .asDouble(),
                                                        2) + " s, prefill "
                                                + Markdown.num(
                                                        p.path("prefill_tokens_with_warmup_median")
                                                                .asDouble(),
                                                        0);
                                    })
                                    .collect(Collectors.joining("; "))
                            + " (medians of " + options.reps() + "; ratios to " + reference.settingName()
                            + " per repetition; default " + SchedulingPolicy.DEFAULT.settingName() + ")",
                    "not published (the original dispatches in arrival order)");
            markdown.append("## ").append(part.title()).append("\n\n");
            markdown.append(Markdown.table(
                    List.of(
                            "policy",
                            "wall s",
                            "wall / " + reference.settingName(),
                            "agent latency p95 s",
                            "p95 / " + reference.settingName(),
                            "agent residency p95 s",
                            "prefill tokens (warm-up incl.)",
                            "prefill / " + reference.settingName(),
                            "succeeded (least)"),
                    rows));
            markdown.append('\n');
        }
        report.note("Each cell: median of " + options.reps()
                + " repetitions, then [min-max]. Ratios are taken per repetition against " + reference.settingName()
                + " run in the same repetition (same machine load), then summarised.");
        report.note("Wall: from just before the warm-up request to the last result read (Conditions.batchAgent). "
                + "Agent latency: from the batch's first model call (the warm-up) to the end of the agent's last model "
                + "call; all agents are submitted at once, so this is each agent's time to its answer, less the few ms "
                + "to publish it. Residency: the agent's first model call's arrival to its last call's end (how long "
                + "its context must stay useful in the engine's KV cache).");
        report.note("Prefill: prompt tokens minus cached tokens as the engine reported them, over every call of the "
                + "run, the warm-up included.");
        return report.write(options.resultsDir().resolve("scheduling"), markdown.toString(), null);
    }

    private static List<Run> of(List<Run> runs, String part, SchedulingPolicy policy) {
        return runs.stream()
                .filter(r -> r.part().equals(part) && r.policy() == policy)
                .toList();
    }

    private static double[] ratios(
            List<Run> runs,
            String part,
            SchedulingPolicy policy,
            SchedulingPolicy reference,
            java.util.function.ToDoubleFunction<Run> figure) {
        Map<Integer, Run> byRep = of(runs, part, reference).stream().collect(Collectors.toMap(Run::rep, r -> r));
        return of(runs, part, policy).stream()
                .filter(r -> byRep.containsKey(r.rep()))
                .mapToDouble(r -> figure.applyAsDouble(r) / figure.applyAsDouble(byRep.get(r.rep())))
                .toArray();
    }

    /** {@code median [min-max]}. */
    static String spread(double[] values, int decimals) {
        if (values.length == 0) {
            return "n/a";
        }
        double min = Arrays.stream(values).min().orElse(Double.NaN);
        double max = Arrays.stream(values).max().orElse(Double.NaN);
        return Markdown.num(Stats.median(values), decimals) + " [" + Markdown.num(min, decimals) + "-"
                + Markdown.num(max, decimals) + "]";
    }
}
