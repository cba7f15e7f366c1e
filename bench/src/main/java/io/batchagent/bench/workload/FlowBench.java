package io.batchagent.bench.workload;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.bench.engine.EngineTarget;
import io.batchagent.bench.engine.RecordingProxy;
import io.batchagent.bench.harness.KafkaHarness;
import io.batchagent.bench.report.Json;
import io.batchagent.bench.report.Markdown;
import io.batchagent.bench.report.Report;
import io.batchagent.bench.report.Stats;
import io.batchagent.inference.FlowControl;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;

/**
 * Flow control (issue 12): the in-flight ceiling sweep, fixed 4/8/16/32/64/128 against adaptive (ceiling 128)
 * on the W1 and W2 shapes, and a mid-batch engine outage on the W2 shape. BatchAgent (condition C) only: the
 * question is how many calls to keep in flight, not BatchAgent against a raw loop.
 *
 * <p>The sweep runs every setting {@link BenchOptions#reps()} times (default 3), each repetition in the other order
 * (4 ... 128, adaptive; then adaptive, 128 ... 4), and judges the medians: one run per setting moved W2's
 * adaptive/best-fixed ratio between 88% and 110% over three runs of one commit.
 *
 * <p>The outage is the simulator's {@code down=true} fault (every chat completion answered 503), set a third of
 * the way into the batch (by the outage-free run's wall clock) and lifted {@link #OUTAGE} later. It runs once.
 */
public final class FlowBench {

    static final int[] FIXED = {4, 8, 16, 32, 64, 128};
    static final int ADAPTIVE_CEILING = 128;
    static final Duration OUTAGE = Duration.ofSeconds(60);
    private static final Duration TIMEOUT = Duration.ofMinutes(10);

    private record Point(
            String shape,
            String setting,
            int rep,
            double wallSeconds,
            int jobs,
            int succeeded,
            double ttftP95Ms,
            long prefillTokens) {
        double throughput() {
            return jobs / wallSeconds;
        }
    }

    private FlowBench() {}

    public static Path run(BenchOptions options) throws Exception {
        return run(options, null, null);
    }

    /**
     * @param parts which parts to run ({@code W1}, {@code W2}, {@code outage}); null or empty: all
     * @param fixed the fixed in-flight settings of the sweep; null or empty: {@link #FIXED}
     */
    public static Path run(BenchOptions options, List<String> parts, List<Integer> fixed) throws Exception {
        Report.Start start = Report.Start.now();
        List<String> run = parts == null || parts.isEmpty() ? List.of("W1", "W2", "outage") : parts;
        int[] settings = fixed == null || fixed.isEmpty()
                ? FIXED
                : fixed.stream().mapToInt(Integer::intValue).toArray();
        List<Point> sweep = new ArrayList<>();
        if (run.contains("W1")) {
            sweep.addAll(sweep(
                    options,
                    "W1",
                    ResearchSummary.shape(2_048, options.model()),
                    ResearchSummary.SIM_TOOL_RULE,
                    Map.of("bench_web_search.latency.ms", "400"),
                    settings));
        }
        Map<String, String> w2Tools = Map.of("slow_company_lookup.latency.ms", "800");
        if (run.contains("W2")) {
            sweep.addAll(sweep(
                    options,
                    "W2",
                    SlowSharedTool.shape(options.model()),
                    SlowSharedTool.SIM_TOOL_RULE,
                    w2Tools,
                    settings));
        }
        List<Point> outage = run.contains("outage")
                ? outage(options, SlowSharedTool.shape(options.model()), SlowSharedTool.SIM_TOOL_RULE, w2Tools)
                : List.of();
        return report(options, start, sweep, outage, settings, run);
    }

    private static List<Point> sweep(
            BenchOptions options,
            String name,
            BatchShape shape,
            String toolRule,
            Map<String, String> toolOptions,
            int[] fixed)
            throws Exception {
        List<Point> points = new ArrayList<>();
        try (EngineTarget engine = EngineTarget.open(options.engineUrl(), options.speedup(), toolRule);
                RecordingProxy proxy = RecordingProxy.start(engine.httpBase());
                KafkaHarness harness = KafkaHarness.start(options.workDir().resolve("flow-" + name));
                Conditions conditions = new Conditions(engine, proxy, ADAPTIVE_CEILING, options.apiKey())) {
            for (int rep = 0; rep < options.reps(); rep++) {
                for (int step = 0; step <= fixed.length; step++) {
                    // Odd repetitions run the settings in the other order, so none always runs first.
                    int i = rep % 2 == 0 ? step : fixed.length - step;
                    points.add(runSetting(options, name, shape, toolOptions, fixed, conditions, harness, i, rep));
                }
            }
        }
        return points;
    }

    /** Setting {@code i} of {@code fixed} (the adaptive one when {@code i == fixed.length}), repetition {@code rep}. */
    private static Point runSetting(
            BenchOptions options,
            String name,
            BatchShape shape,
            Map<String, String> toolOptions,
            int[] fixed,
            Conditions conditions,
            KafkaHarness harness,
            int i,
            int rep)
            throws Exception {
        boolean adaptive = i == fixed.length;
        int ceiling = adaptive ? ADAPTIVE_CEILING : fixed[i];
        String setting = adaptive ? "adaptive <= " + ceiling : "fixed " + ceiling;
        String id = "flow-" + name.toLowerCase(Locale.ROOT) + "-" + (adaptive ? "adaptive" : "fixed" + ceiling) + "-r"
                + rep;
        Conditions.Outcome outcome = conditions.batchAgent(
                setting,
                shape,
                id,
                harness,
                id + "-",
                ceiling,
                FlowControl.defaults().withAdaptive(adaptive),
                toolOptions,
                true,
                TIMEOUT);
        Point point = new Point(
                name,
                setting,
                rep,
                outcome.wallSeconds(),
                outcome.jobs(),
                outcome.succeeded(),
                outcome.agentCalls().ttftMs().p95(),
                outcome.agentCalls().prefillTokens());
        System.err.printf(
                Locale.ROOT,
                "flow %s %s (rep %d): wall %.2f s, %.2f jobs/s, TTFT p95 %.0f ms, %d/%d ok%n",
                name,
                setting,
                rep + 1,
                point.wallSeconds(),
                point.throughput(),
                point.ttftP95Ms(),
                point.succeeded(),
                point.jobs());
        return point;
    }

    private static List<Point> outage(
            BenchOptions options, BatchShape shape, String toolRule, Map<String, String> toolOptions) throws Exception {
        List<Point> points = new ArrayList<>();
        ScheduledExecutorService faults = Executors.newSingleThreadScheduledExecutor();
        try (EngineTarget engine = EngineTarget.open(options.engineUrl(), options.speedup(), toolRule);
                RecordingProxy proxy = RecordingProxy.start(engine.httpBase());
                KafkaHarness harness = KafkaHarness.start(options.workDir().resolve("flow-outage"));
                Conditions conditions = new Conditions(engine, proxy, 32, options.apiKey())) {
            Conditions.Outcome calm = conditions.batchAgent(
                    "no outage",
                    shape,
                    "flow-calm",
                    harness,
                    "flow-calm-",
                    32,
                    FlowControl.defaults(),
                    toolOptions,
                    true,
                    TIMEOUT);
            points.add(new Point(
                    "W2",
                    "no outage",
                    0,
                    calm.wallSeconds(),
                    calm.jobs(),
                    calm.succeeded(),
                    calm.agentCalls().ttftMs().p95(),
                    calm.agentCalls().prefillTokens()));
            long downAtMs = Math.round(calm.wallSeconds() * 1000 / 3);
            faults.schedule(() -> engine.setFaults("down=true"), downAtMs, TimeUnit.MILLISECONDS);
            faults.schedule(() -> engine.setFaults("down=false"), downAtMs + OUTAGE.toMillis(), TimeUnit.MILLISECONDS);
            Conditions.Outcome down = conditions.batchAgent(
                    "outage",
                    shape,
                    "flow-outage",
                    harness,
                    "flow-outage-",
                    32,
                    FlowControl.defaults(),
                    toolOptions,
                    true,
                    TIMEOUT);
            points.add(new Point(
                    "W2",
                    OUTAGE.toSeconds() + " s outage",
                    0,
                    down.wallSeconds(),
                    down.jobs(),
                    down.succeeded(),
                    down.agentCalls().ttftMs().p95(),
                    down.agentCalls().prefillTokens()));
            System.err.printf(
                    Locale.ROOT,
                    "flow outage: wall %.2f s without, %.2f s with a %d s outage; %d/%d ok%n",
                    calm.wallSeconds(),
                    down.wallSeconds(),
                    OUTAGE.toSeconds(),
                    down.succeeded(),
                    down.jobs());
        } finally {
            faults.shutdownNow();
        }
        return points;
    }

    private static Path report(
            BenchOptions options,
            Report.Start start,
            List<Point> sweep,
            List<Point> outage,
            int[] fixed,
            List<String> parts) {
        boolean simulated = options.engineUrl().startsWith("sim://");
        Report report = new Report(
                "flow-control",
                options.command(),
                options.engineUrl(),
                simulated ? "SIMULATED " + options.engineUrl() : options.engineUrl(),
                simulated);
        start.applyTo(report);
        ObjectNode config = report.config();
        config.put("fixed_settings", java.util.Arrays.toString(fixed));
        config.put("parts", String.join(",", parts));
        config.put("adaptive_ceiling", ADAPTIVE_CEILING);
        config.put("outage_seconds", OUTAGE.toSeconds());
        config.put(
                "outage", "simulator down=true (HTTP 503 to every chat completion) a third of the way into the batch");
        config.put("speedup", options.speedup());
        List<List<String>> rows = new ArrayList<>();
        DefaultCategoryDataset throughput = new DefaultCategoryDataset();
        for (String shape : List.of("W1", "W2")) {
            List<Point> points =
                    sweep.stream().filter(p -> p.shape().equals(shape)).toList();
            if (points.isEmpty()) {
                continue;
            }
            // One row per setting, in the order of the first repetition: medians of the repetitions.
            Map<String, List<Point>> bySetting = new java.util.LinkedHashMap<>();
            points.stream().filter(p -> p.rep() == 0).forEach(p -> bySetting.put(p.setting(), new ArrayList<>()));
            points.forEach(p -> bySetting.get(p.setting()).add(p));
            String adaptiveSetting = "adaptive <= " + ADAPTIVE_CEILING;
            String best = bySetting.keySet().stream()
                    .filter(setting -> setting.startsWith("fixed"))
                    .max(java.util.Comparator.comparingDouble(
                            setting -> median(bySetting.get(setting), Point::throughput)))
                    .orElseThrow();
            List<Point> adaptive = bySetting.get(adaptiveSetting);
            ObjectNode s = report.summary().putObject(shape);
            for (Point p : points) {
                ObjectNode run = report.runs().addObject();
                run.put("shape", shape)
                        .put("setting", p.setting())
                        .put("rep", p.rep() + 1)
                        .put("jobs", p.jobs())
                        .put("succeeded", p.succeeded())
                        .put("prefill_tokens", p.prefillTokens());
                Json.putNumber(run, "wall_s", p.wallSeconds());
                Json.putNumber(run, "jobs_per_s", p.throughput());
                Json.putNumber(run, "ttft_p95_ms", p.ttftP95Ms());
            }
            bySetting.forEach((setting, runs) -> {
                rows.add(List.of(
                        shape,
                        setting,
                        spread(runs, Point::wallSeconds, 2),
                        spread(runs, Point::throughput, 2),
                        spread(runs, Point::ttftP95Ms, 0),
                        String.format(Locale.ROOT, "%,.0f", median(runs, p -> p.prefillTokens())),
                        runs.stream().mapToInt(Point::succeeded).sum() + "/"
                                + runs.stream().mapToInt(Point::jobs).sum()));
                throughput.addValue(median(runs, Point::throughput), shape, setting);
            });
            double adaptiveThroughput = median(adaptive, Point::throughput);
            double bestThroughput = median(bySetting.get(best), Point::throughput);
            double adaptiveTtft = median(adaptive, Point::ttftP95Ms);
            double bestTtft = median(bySetting.get(best), Point::ttftP95Ms);
            double share = adaptiveThroughput / bestThroughput;
            // The same ratio within each repetition (adaptive against the best fixed setting of the medians).
            double[] perRep = adaptive.stream()
                    .mapToDouble(a -> a.throughput()
                            / bySetting.get(best).stream()
                                    .filter(b -> b.rep() == a.rep())
                                    .findFirst()
                                    .orElseThrow()
                                    .throughput())
                    .toArray();
            double perRepMin = Arrays.stream(perRep).min().orElse(Double.NaN);
            double perRepMax = Arrays.stream(perRep).max().orElse(Double.NaN);
            s.put("best_fixed", best);
            s.put("repetitions", adaptive.size());
            Json.putNumber(s, "adaptive_over_best_fixed_throughput", share);
            Json.putNumber(s, "adaptive_over_best_fixed_throughput_per_rep_min", perRepMin);
            Json.putNumber(s, "adaptive_over_best_fixed_throughput_per_rep_max", perRepMax);
            Json.putNumber(s, "adaptive_ttft_p95_ms", adaptiveTtft);
            Json.putNumber(s, "best_fixed_ttft_p95_ms", bestTtft);
            String reps = adaptive.size() == 1
                    ? "one run per setting"
                    : "medians of " + adaptive.size() + " runs per setting";
            report.target(
                    shape + ": adaptive throughput",
                    "at least 95% of the best fixed setting's",
                    Markdown.pct(share) + " of " + best,
                    share >= 0.95,
                    reps + "; within one repetition adaptive was " + Markdown.pct(perRepMin) + "-"
                            + Markdown.pct(perRepMax) + " of " + best);
            report.target(
                    shape + ": adaptive TTFT p95",
                    "no worse than the best fixed setting's",
                    Markdown.num(adaptiveTtft, 0) + " ms vs " + Markdown.num(bestTtft, 0) + " ms",
                    adaptiveTtft <= bestTtft,
                    "measured at the recording proxy; " + reps);
            report.readmeRow(
                    "Flow control, " + shape + " ceiling sweep (fixed 4-128 vs adaptive)",
                    String.format(
                            Locale.ROOT,
                            "adaptive %s jobs/s = **%s** of the best fixed (%s, %s jobs/s); TTFT p95 %s vs %s ms (%s)",
                            Markdown.num(adaptiveThroughput, 2),
                            Markdown.pct(share),
                            best,
                            Markdown.num(bestThroughput, 2),
                            Markdown.num(adaptiveTtft, 0),
                            Markdown.num(bestTtft, 0),
                            reps),
                    "Python original: a calibrating ramp, a ceiling on vLLM's waiting queue, AIMD on Bedrock throttling (no published sweep)");
        }
        if (outage.isEmpty()) {
            return writeReport(options, report, rows, throughput, simulated);
        }
        Point calm = outage.get(0);
        Point down = outage.get(1);
        double extra = down.wallSeconds() - calm.wallSeconds();
        ObjectNode o = report.summary().putObject("outage");
        Json.putNumber(o, "wall_s_without", calm.wallSeconds());
        Json.putNumber(o, "wall_s_with", down.wallSeconds());
        Json.putNumber(o, "extra_wall_s", extra);
        o.put("failed", down.jobs() - down.succeeded());
        for (Point p : outage) {
            rows.add(List.of(
                    "W2 outage",
                    p.setting(),
                    Markdown.num(p.wallSeconds(), 2),
                    Markdown.num(p.throughput(), 2),
                    Markdown.num(p.ttftP95Ms(), 0),
                    String.format(Locale.ROOT, "%,d", p.prefillTokens()),
                    p.succeeded() + "/" + p.jobs()));
        }
        report.target(
                "outage: failed jobs",
                "0",
                String.valueOf(down.jobs() - down.succeeded()),
                down.succeeded() == down.jobs(),
                "");
        report.target(
                "outage: extra wall clock",
                "about the outage (" + OUTAGE.toSeconds() + " s)",
                Markdown.num(extra, 1) + " s",
                Math.abs(extra - OUTAGE.toSeconds()) <= 0.25 * OUTAGE.toSeconds(),
                "probes back off up to 15 s, so the resume may trail the engine's return");
        report.readmeRow(
                "Flow control, W2 with a " + OUTAGE.toSeconds() + " s engine outage mid-batch",
                String.format(
                        Locale.ROOT,
                        "wall %s -> %s s (**+%s s**), %d of %d failed",
                        Markdown.num(calm.wallSeconds(), 1),
                        Markdown.num(down.wallSeconds(), 1),
                        Markdown.num(extra, 1),
                        down.jobs() - down.succeeded(),
                        down.jobs()),
                "every job FAILED ENGINE_ERROR within seconds (issue 12)");
        return writeReport(options, report, rows, throughput, simulated);
    }

    private static Path writeReport(
            BenchOptions options,
            Report report,
            List<List<String>> rows,
            DefaultCategoryDataset throughput,
            boolean simulated) {
        report.note(
                "Adaptive (AdaptiveConcurrency): starts at a quarter of the ceiling; +1 per answered call while the engine's "
                        + "metrics show room (no queue, KV under 80%) however little of the limit is in use, held while a call's time to "
                        + "first token is over twice the least seen lately; cut by 20% on a queue past a tenth of the running batch or KV "
                        + "at 95%, once per reading and once per round trip. Admission by KV (KvAdmission) is on too: before any call is "
                        + "answered it starts as many new agents as the limit starts at (a quarter of the ceiling); after that W1's and "
                        + "W2's small contexts never fill the pool. W1 has 20 agents: any limit of 20 or more, adaptive included, "
                        + "dispatches them all at once, so W1's adaptive and fixed 32, 64 and 128 differ only by the machine.");
        report.note(
                "Each setting of the sweep runs --reps times (default 3), repetitions in alternating order (4 ... 128, "
                        + "adaptive, then the reverse), in one JVM against one simulator; each cell is the median [min-max] of "
                        + "those runs, the best fixed setting the one with the highest median throughput. The outage part runs "
                        + "once. On a " + Runtime.getRuntime().availableProcessors()
                        + "-core machine (load average in results.json) the engine, the broker, "
                        + "every stage and the proxy share the CPU, so time to first token and wall time here measure CPU contention as "
                        + "much as the simulated engine.");
        String markdown = "## Flow control: in-flight ceiling sweep and a mid-batch outage\n\n"
                + Markdown.table(
                        List.of("shape", "setting", "wall s", "jobs/s", "TTFT p95 ms", "prefill tokens", "succeeded"),
                        rows)
                + "\n";
        JFreeChart chart = ChartFactory.createBarChart(
                "Throughput by in-flight setting" + (simulated ? " (SIMULATED engine)" : ""),
                "setting",
                "jobs/s",
                throughput,
                PlotOrientation.VERTICAL,
                true,
                false,
                false);
        return report.write(options.resultsDir().resolve("flow-control"), markdown, chart);
    }

    private static double median(List<Point> runs, java.util.function.ToDoubleFunction<Point> figure) {
        return Stats.median(runs.stream().mapToDouble(figure).toArray());
    }

    /** {@code median [min-max]} of a figure over the repetitions ({@link SchedulingBench#spread}); the median alone for one run. */
    private static String spread(List<Point> runs, java.util.function.ToDoubleFunction<Point> figure, int decimals) {
        double[] values = runs.stream().mapToDouble(figure).toArray();
        return values.length == 1 ? Markdown.num(values[0], decimals) : SchedulingBench.spread(values, decimals);
    }
}
