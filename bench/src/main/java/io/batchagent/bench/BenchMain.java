package io.batchagent.bench;

import io.batchagent.bench.report.ReadmeTable;
import io.batchagent.bench.workload.BenchOptions;
import io.batchagent.bench.workload.Dedup;
import io.batchagent.bench.workload.FlowBench;
import io.batchagent.bench.workload.ResearchSummary;
import io.batchagent.bench.workload.ScaleOverhead;
import io.batchagent.bench.workload.SharedPrefixSessions;
import io.batchagent.bench.workload.SlowSharedTool;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code bench/run <workload> [options]}: runs one benchmark driver (or all of them) and writes its
 * figures to {@code bench/results/<workload>/}. See bench/README.md.
 */
@Command(
        name = "bench/run",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description =
                "Runs BatchAgent's benchmark drivers and writes results.json, results.md and chart.png to bench/results/<workload>/.")
public final class BenchMain implements Callable<Integer> {

    @Parameters(
            index = "0",
            description =
                    "w1, w2, w3, w4, flow (in-flight sweep and outage), sched (dispatch policies on W1-W3), scale, bound (the ideal-schedule lower bound of a workload shape; bench/run bound --help), long (long agents per compaction mode), chaos (the fault campaign), all (every driver but chaos, then the README table), or readme (only the table).")
    String workload;

    @Option(
            names = "--engine",
            description = "Engine: sim://<profile> (default: sim://h100-qwen2.5-32b; scale uses sim://instant), "
                    + "sglang://host:port, vllm://host:port, dynamo://host:port, openai-compatible://host:port or an http(s):// base URL. "
                    + "API key from $BATCHAGENT_API_KEY.")
    String engine;

    @Option(
            names = "--model",
            defaultValue = "sim-model",
            description = "Model name sent to the engine (default: ${DEFAULT-VALUE}).")
    String model;

    @Option(
            names = "--reps",
            description =
                    "Repetitions per condition, in alternating order; tables show the median and the min-max spread (default: 5; scale: 2; flow: 3, its sweep only; chaos: 1).")
    Integer reps;

    @Option(
            names = "--speedup",
            description =
                    "Simulator speedup (default: 1; W3 defaults to 10 to keep its sequential isolated runs short).")
    Double speedup;

    @Option(
            names = "--sizes",
            split = ",",
            description =
                    "W3 session counts (default: 5,10,20,50,100); scale: agent counts (default: 1000,10000); long: agents per row (default: 20).")
    List<Integer> sizes;

    @Option(
            names = "--parts",
            split = ",",
            description =
                    "flow: which parts to run, of W1, W2, outage (default: all three); --sizes then sets the fixed in-flight settings (default: 4,8,16,32,64,128).")
    List<String> parts;

    @Option(
            names = "--rows",
            split = ",",
            description =
                    "long: which rows to run, 1-based (default: all): 1-3 are the 30-turn x 8 KB shape "
                            + "per compaction mode, 4 the 20-turn x 4 KB wire-cost row, 5 that row with every tool output inline (as before outputs travelled by reference).")
    List<Integer> rows;

    @Option(
            names = "--policies",
            split = ",",
            converter = PolicyConverter.class,
            description =
                    "sched: the inference worker's dispatch policies to compare, of continuing-first, new-first, least-remaining-work (default: all); --parts then picks W1, W2, W3 (default: all three).")
    List<io.batchagent.inference.SchedulingPolicy> policies;

    static final class PolicyConverter implements CommandLine.ITypeConverter<io.batchagent.inference.SchedulingPolicy> {
        @Override
        public io.batchagent.inference.SchedulingPolicy convert(String value) {
            try {
                return io.batchagent.inference.SchedulingPolicy.parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    @Option(names = "--processes", split = ",", description = "scale: worker process counts to measure (default: 1,3).")
    List<Integer> processes;

    @Option(
            names = "--variant",
            paramLabel = "LABEL=ARGS",
            description = "scale: a one-process variant to measure beside the product's settings, as a label and the "
                    + "worker arguments it adds, e.g. 'fetch 500 ms=--kafka fetch.max.wait.ms=500'; "
                    + "repeatable; replaces the built-in comparison variants ('none': the product's settings only).")
    List<String> variants;

    @Option(
            names = "--results-dir",
            defaultValue = "bench/results",
            description = "Where results go (default: ${DEFAULT-VALUE}).")
    Path resultsDir;

    @Option(
            names = "--work-dir",
            defaultValue = "bench/target/work",
            description = "Scratch space for brokers and state (default: ${DEFAULT-VALUE}).")
    Path workDir;

    @Option(
            names = "--seed",
            defaultValue = "1",
            description =
                    "chaos: seeds the kill order, engine faults and answers, and the fuzzer; rep n uses seed + n (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(
            names = "--small",
            description = "chaos: the CI-sized campaign (80 agents, 4 kills, 120 bad records) instead of the full one.")
    boolean small;

    @Option(
            names = "--readme",
            defaultValue = "README.md",
            description = "The README whose '## Results' section 'readme' and 'all' rewrite.")
    Path readme;

    private final String commandLine;

    BenchMain(String commandLine) {
        this.commandLine = commandLine;
    }

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        // The raw loop builds BatchAgent's Avro events without going through the topic catalogue.
        io.batchagent.schemas.serde.EventSerdes.trustEventClasses();
        if (args.length > 0 && args[0].equals("bound")) {
            System.exit(new CommandLine(new io.batchagent.bench.bound.BoundCommand())
                    .execute(java.util.Arrays.copyOfRange(args, 1, args.length)));
        }
        String commandLine = "bench/run "
                + java.util.Arrays.stream(args)
                        .map(a -> a.matches("[\\w@%+=:,./-]*") ? a : "'" + a.replace("'", "'\\''") + "'")
                        .collect(java.util.stream.Collectors.joining(" "));
        int code = 1;
        try {
            code = new CommandLine(new BenchMain(commandLine)).execute(args);
        } catch (Throwable e) {
            e.printStackTrace();
        } finally {
            // Kafka and netty threads must not keep a failed run alive.
            System.exit(code);
        }
    }

    @Override
    public Integer call() throws Exception {
        String apiKey = System.getenv("BATCHAGENT_API_KEY");
        String defaultEngine = engine == null ? "sim://h100-qwen2.5-32b" : engine;
        BenchOptions base = new BenchOptions(
                defaultEngine,
                model,
                speedup == null ? 1 : speedup,
                reps == null ? 5 : reps,
                resultsDir,
                workDir,
                commandLine,
                apiKey);
        switch (workload) {
            case "w1" -> print(ResearchSummary.run(base));
            case "w2" -> print(SlowSharedTool.run(base));
            case "w3" -> print(SharedPrefixSessions.run(base.withSpeedup(speedup == null ? 10 : speedup), sizes));
            case "w4" -> print(Dedup.run(base));
            case "flow" -> print(FlowBench.run(base.withReps(reps == null ? 3 : reps), parts, sizes));
            case "sched" -> print(io.batchagent.bench.workload.SchedulingBench.run(base, parts, policies));
            case "scale" ->
                print(ScaleOverhead.run(
                        base.withEngine(engine == null ? "sim://instant" : engine)
                                .withReps(reps == null ? 2 : reps),
                        sizes,
                        processes,
                        variants));
            case "long" ->
                print(io.batchagent.bench.workload.LongAgents.run(
                        base.withEngine(engine == null ? "sim://instant" : engine),
                        sizes == null || sizes.isEmpty() ? null : sizes.get(0),
                        rows));
            case "chaos" ->
                print(io.batchagent.bench.chaos.ChaosReport.run(
                        base.withReps(reps == null ? 1 : reps),
                        small
                                ? io.batchagent.bench.chaos.ChaosCampaign.Settings.small(seed)
                                : io.batchagent.bench.chaos.ChaosCampaign.Settings.full(seed),
                        System.err::println));
            case "readme" -> print(ReadmeTable.rewrite(readme, resultsDir));
            case "all" -> {
                print(ResearchSummary.run(base));
                print(SlowSharedTool.run(base));
                print(SharedPrefixSessions.run(base.withSpeedup(speedup == null ? 10 : speedup), sizes));
                print(Dedup.run(base));
                print(io.batchagent.bench.workload.SchedulingBench.run(base, null, null));
                print(FlowBench.run(base.withReps(reps == null ? 3 : reps), null, null));
                print(io.batchagent.bench.workload.LongAgents.run(
                        base.withEngine("sim://instant"), io.batchagent.bench.workload.LongAgents.ISSUE_AGENTS, null));
                print(ScaleOverhead.run(
                        base.withEngine(engine == null ? "sim://instant" : engine)
                                .withReps(reps == null ? 2 : reps),
                        null,
                        null,
                        null));
                print(ReadmeTable.rewrite(readme, resultsDir));
            }
            default ->
                throw new CommandLine.ParameterException(
                        new CommandLine(this),
                        "unknown workload '" + workload
                                + "'; use w1, w2, w3, w4, flow, sched, scale, long, chaos, all or readme");
        }
        return 0;
    }

    private static void print(Path written) {
        System.out.println("wrote " + written);
    }
}
