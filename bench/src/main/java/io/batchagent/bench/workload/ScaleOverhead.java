package io.batchagent.bench.workload;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.bench.engine.EngineTarget;
import io.batchagent.bench.engine.ModelCall;
import io.batchagent.bench.engine.RecordingProxy;
import io.batchagent.bench.harness.BenchClient;
import io.batchagent.bench.harness.KafkaHarness;
import io.batchagent.bench.harness.TopicScan;
import io.batchagent.bench.harness.WorkerProcesses;
import io.batchagent.bench.report.Json;
import io.batchagent.bench.report.Markdown;
import io.batchagent.bench.report.Report;
import io.batchagent.bench.report.Stats;
import io.batchagent.bench.tools.ToolLedger;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.JobStatus;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolRequest;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolResult;
import io.batchagent.schemas.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;

/**
 * Scale and Kafka overhead: 1,000 and 10,000 two-turn agents (a tool call that answers at once, then
 * the final answer) on the instant engine profile, through one worker process and through three
 * ({@code batchagent worker --role all}, each with a 1 GiB heap cap), the broker, engine and client
 * in the driver's JVM.
 *
 * <p>Kafka overhead per agent turn = start of the agent's turn-2 model call - end of its turn-1 model
 * call - its tool execution time, both ends seen at the recording proxy in front of the engine.
 */
public final class ScaleOverhead {

    static final List<Integer> DEFAULT_SIZES = List.of(20, 1_000, 10_000);
    static final int WARMUP_AGENTS = 200;
    static final int MAX_INFLIGHT = 256;
    static final int PARTITIONS = 6;
    static final String SIM_TOOL_RULE = "bench_noop.key=Agent: (.*)";
    static final String SYSTEM = "You are a bookkeeping agent. Call bench_noop once with your key, then answer. "
            + "Final answers must be JSON matching the requested schema.";
    static final String TASK = "Agent: {agent}\nTask: look up your record with bench_noop, then report its status.";
    static final String SCHEMA =
            "{\"type\":\"object\",\"properties\":{\"agent\":{\"type\":\"string\"},\"status\":{\"type\":\"string\"}},"
                    + "\"required\":[\"agent\",\"status\"],\"additionalProperties\":false}";

    private ScaleOverhead() {}

    static BatchShape shape(String batchId, int agents, String model) {
        List<String> inputs = new ArrayList<>();
        for (int i = 0; i < agents; i++) {
            inputs.add("{\"agent\":\"" + batchId + "-" + i + "\"}");
        }
        return new BatchShape(
                SYSTEM,
                TASK,
                inputs,
                List.of(BatchShape.tool(
                        "bench_noop",
                        "Return the record for a key.",
                        new io.batchagent.bench.tools.NoopTool().parametersJson(),
                        10_000,
                        false,
                        0)),
                SCHEMA,
                model,
                4,
                128);
    }

    /** A set of worker processes to measure, and the batch sizes to put through it. */
    record Variant(
            String label,
            String prefix,
            int processes,
            List<String> extraArgs,
            List<Integer> sizes,
            boolean productDefaults) {}

    static final List<Integer> DEFAULT_PROCESSES = List.of(1, 3);

    /**
     * The Kafka Streams settings before issue 14, for a side-by-side comparison: five produce requests in flight
     * and the default 100 ms retry backoff. The tool worker's linger (5 ms before, 1 ms now) and the schema id
     * cache are not reverted.
     */
    static final List<String> PREVIOUS_STREAMS_SETTINGS = List.of(
            "--kafka", "producer.max.in.flight.requests.per.connection=5", "--kafka", "producer.retry.backoff.ms=100");
    /** Not the product's setting: exactly-once commits every 5 ms instead of 20 (and idle threads polling for 5 ms). */
    static final List<String> COMMIT_5_MS = List.of("--kafka", "commit.interval.ms=5", "--kafka", "poll.ms=5");

    static List<Variant> variants(List<Integer> sizes, List<Integer> processes, List<String> given) {
        List<Integer> counts = processes == null || processes.isEmpty() ? DEFAULT_PROCESSES : processes;
        List<Variant> variants = new ArrayList<>();
        // Several processes on this machine's two cores measure contention, not scale-out: they run the sizes up to
        // 1,000 agents only (the 10,000-agent batch would take minutes at a third of one process's rate).
        List<Integer> upTo1000 = sizes.stream().filter(size -> size <= 1_000).toList();
        for (int n : counts) {
            variants.add(new Variant(
                    n == 1 ? "1 worker process" : n + " worker processes",
                    "scale-" + n + "p-",
                    n,
                    List.of(),
                    n == 1 || upTo1000.isEmpty() ? sizes : upTo1000,
                    true));
            if (n == 1 && given != null && given.equals(List.of("none"))) {
                continue;
            } else if (n == 1 && given != null && !given.isEmpty()) {
                for (int i = 0; i < given.size(); i++) {
                    String spec = given.get(i);
                    int eq = spec.indexOf('=');
                    if (eq < 1) {
                        throw new IllegalArgumentException(
                                "--variant wants LABEL=ARGS, e.g. 'fetch 500 ms=--kafka fetch.max.wait.ms=500'; got: "
                                        + spec);
                    }
                    variants.add(new Variant(
                            "1 worker process, " + spec.substring(0, eq).trim(),
                            "scale-1p-v" + i + "-",
                            1,
                            List.of(spec.substring(eq + 1).trim().split("\\s+")),
                            sizes,
                            false));
                }
            } else if (n == 1) {
                // Not the product's settings: the same worker with other Streams settings, in the same run.
                List<Integer> small =
                        sizes.stream().filter(size -> size <= 1_000).toList();
                variants.add(new Variant(
                        "1 worker process, previous Streams producer settings",
                        "scale-1p-prev-",
                        1,
                        PREVIOUS_STREAMS_SETTINGS,
                        small.isEmpty() ? sizes : small,
                        false));
                variants.add(new Variant(
                        "1 worker process, Streams commits every 5 ms",
                        "scale-1p-commit5-",
                        1,
                        COMMIT_5_MS,
                        small.isEmpty() ? sizes : small,
                        false));
            }
        }
        return variants;
    }

    /** One measured batch. */
    static final class SizeRun {
        String variant;
        int rep;
        boolean productDefaults;
        int processes;
        int agents;
        String batchId;
        double wallSeconds;
        long succeeded;
        int modelCalls;
        long startEpochMs;
        long endEpochMs;
        List<ModelCall> calls;
        Map<String, String> jobByMessage;
        Stats overheadMs = Stats.EMPTY;
        Stats gapMs = Stats.EMPTY;
        Stats toolMs = Stats.EMPTY;
        int agentsMeasured;
        ObjectNode breakdown;
        Map<String, Integer> producerRetriesInVariant = Map.of();
        double loadAverageAtStart;
        double workerCpuSeconds;
        double driverCpuSeconds;
        List<Long> peakHeapBytes = new ArrayList<>();
        List<Long> peakLiveHeapBytes = new ArrayList<>();

        double turnsPerSecond() {
            return modelCalls / wallSeconds;
        }
    }

    public static Path run(BenchOptions options, List<Integer> sizes, List<Integer> processCounts, List<String> given)
            throws Exception {
        List<Integer> ns = sizes == null || sizes.isEmpty() ? DEFAULT_SIZES : sizes;
        List<SizeRun> runs = new ArrayList<>();
        String description;
        boolean simulated;
        java.time.Instant startedAt = java.time.Instant.now();
        double loadAtStart = systemLoad();
        long epochOffsetMs = System.currentTimeMillis() - System.nanoTime() / 1_000_000;
        Path work = options.workDir().resolve("scale");
        try (EngineTarget engine = EngineTarget.open(options.engineUrl(), 1, SIM_TOOL_RULE);
                RecordingProxy proxy = RecordingProxy.start(engine.httpBase());
                KafkaHarness harness = KafkaHarness.start(work)) {
            description = engine.describe();
            simulated = engine.simulated();
            List<Variant> variants = variants(ns, processCounts, given);
            int reps = Math.max(1, options.reps());
            List<Variant> order = new ArrayList<>();
            for (int r = 0; r < reps; r++) {
                // Alternate the order: the driver (broker, simulator) warms up as the run goes on, so the first
                // variant measured would otherwise always be the slowest.
                List<Variant> inRep = new ArrayList<>(variants);
                if (r % 2 == 1) {
                    java.util.Collections.reverse(inRep);
                }
                order.addAll(inRep);
            }
            for (int i = 0; i < order.size(); i++) {
                Variant v = order.get(i);
                int repNo = i / variants.size();
                int processes = v.processes();
                String variant = v.label();
                String prefix = v.prefix() + "r" + repNo + "-";
                List<String> args = new ArrayList<>(List.of(
                        "--role",
                        "all",
                        "--bootstrap-servers",
                        harness.bootstrapServers(),
                        "--backend",
                        engine.urlThrough(proxy.port()),
                        "--max-inflight",
                        String.valueOf(MAX_INFLIGHT),
                        "--partitions",
                        String.valueOf(PARTITIONS),
                        "--topic-prefix",
                        prefix,
                        "--tool-option",
                        "bench_noop.latency.ms=0"));
                args.addAll(v.extraArgs());
                Path dir = work.resolve(prefix);
                List<SizeRun> variantRuns = new ArrayList<>();
                WorkerProcesses workers = WorkerProcesses.start(processes, dir, "1g", args);
                Topics topics = Topics.create(prefix, Map.of());
                try (workers;
                        BenchClient client = new BenchClient(harness.kafkaConfig(), topics)) {
                    BatchShape warm = shape(prefix + "warmup", WARMUP_AGENTS, options.model());
                    client.await(client.submit(warm.toSpec(prefix + "warmup"), warm.inputs()), Duration.ofMinutes(5));
                    for (int n : v.sizes()) {
                        double loadBefore = systemLoad();
                        long workerCpuBefore = workerCpuNanos(workers);
                        long driverCpuBefore = driverCpuNanos();
                        SizeRun run = runSize(client, proxy, prefix, n, options.model(), epochOffsetMs);
                        run.workerCpuSeconds = (workerCpuNanos(workers) - workerCpuBefore) / 1e9;
                        run.loadAverageAtStart = loadBefore;
                        run.driverCpuSeconds = (driverCpuNanos() - driverCpuBefore) / 1e9;
                        run.variant = variant;
                        run.rep = repNo;
                        run.productDefaults = v.productDefaults();
                        run.processes = processes;
                        variantRuns.add(run);
                        System.err.printf(
                                "scale %s, %,d agents: wall %.2f s, %,.0f agent-turns/s, %d/%d succeeded%n",
                                variant, n, run.wallSeconds, run.turnsPerSecond(), run.succeeded, n);
                    }
                    for (SizeRun run : variantRuns) {
                        if (run.agents <= 1_000 && run.rep == 0) {
                            run.breakdown = breakdown(harness.kafkaConfig(), topics, run, epochOffsetMs);
                        }
                    }
                }
                Map<String, Long> toolNanos = new HashMap<>();
                for (WorkerProcesses.Worker worker : workers.workers()) {
                    if (Files.exists(worker.ledger())) {
                        toolNanos.putAll(ToolLedger.readDurations(worker.ledger(), "bench_noop"));
                    }
                }
                Map<String, Integer> retried = producerRetries(workers);
                for (SizeRun run : variantRuns) {
                    run.producerRetriesInVariant = retried;
                    overhead(run, toolNanos);
                    for (WorkerProcesses.Worker worker : workers.workers()) {
                        long[] peaks = heapPeaks(worker.heapLog(), run.startEpochMs, run.endEpochMs);
                        run.peakHeapBytes.add(peaks[0]);
                        run.peakLiveHeapBytes.add(peaks[1]);
                    }
                    run.calls = null; // release the bodies
                }
                runs.addAll(variantRuns);
            }
        }
        return report(options, runs, description, simulated, startedAt, loadAtStart);
    }

    /**
     * The run whose {@code metric} is the median among those {@code which} selects (of an even number, the lower
     * middle one: for agent-turns/s, the slower); null if none.
     */
    static SizeRun median(
            List<SizeRun> runs,
            java.util.function.Predicate<SizeRun> which,
            java.util.function.ToDoubleFunction<SizeRun> metric) {
        List<SizeRun> chosen = runs.stream()
                .filter(which)
                .sorted(java.util.Comparator.comparingDouble(metric))
                .toList();
        return chosen.isEmpty() ? null : chosen.get((chosen.size() - 1) / 2);
    }

    /** Per variant and size: the median over repetitions, with the smallest and largest beside it. */
    static String medians(List<SizeRun> runs) {
        int reps = runs.stream().mapToInt(r -> r.rep + 1).max().orElse(1);
        if (reps < 2) {
            return "";
        }
        Map<String, List<SizeRun>> groups = new java.util.LinkedHashMap<>();
        runs.forEach(r -> groups.computeIfAbsent(r.variant + "\u0000" + r.agents, k -> new ArrayList<>())
                .add(r));
        List<List<String>> rows = new ArrayList<>();
        groups.values()
                .forEach(g -> rows.add(List.of(
                        g.get(0).variant,
                        Markdown.count(g.get(0).agents),
                        String.valueOf(g.size()),
                        spread(g, SizeRun::turnsPerSecond, 0),
                        spread(g, r -> r.overheadMs.p50(), 1),
                        spread(g, r -> r.overheadMs.p99(), 1),
                        spread(g, r -> 1000 * r.workerCpuSeconds / Math.max(1, r.modelCalls), 2),
                        spread(g, r -> 1000 * r.driverCpuSeconds / Math.max(1, r.modelCalls), 2))));
        return "\n### Medians over " + reps + " repetitions (orders alternate; [min - max])\n\n"
                + Markdown.table(
                        List.of(
                                "workers",
                                "agents",
                                "reps",
                                "agent-turns/s",
                                "overhead p50 ms",
                                "overhead p99 ms",
                                "worker CPU ms per turn",
                                "driver CPU ms per turn"),
                        rows);
    }

    private static String spread(List<SizeRun> group, java.util.function.ToDoubleFunction<SizeRun> metric, int digits) {
        double[] values = group.stream().mapToDouble(metric).sorted().toArray();
        double median = (values[(values.length - 1) / 2] + values[values.length / 2]) / 2;
        return Markdown.num(median, digits) + " [" + Markdown.num(values[0], digits) + " - "
                + Markdown.num(values[values.length - 1], digits) + "]";
    }

    private static double systemLoad() {
        return java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    private static SizeRun runSize(
            BenchClient client, RecordingProxy proxy, String prefix, int n, String model, long epochOffsetMs)
            throws Exception {
        String batchId = prefix + n;
        BatchShape shape = shape(batchId, n, model);
        List<String> messages = shape.userMessages();
        SizeRun run = new SizeRun();
        run.agents = n;
        run.batchId = batchId;
        run.jobByMessage = new HashMap<>();
        for (int i = 0; i < n; i++) {
            run.jobByMessage.put(messages.get(i), BenchClient.jobId(batchId, i));
        }
        proxy.drain();
        proxy.tag(batchId);
        run.startEpochMs = System.currentTimeMillis();
        long start = System.nanoTime();
        Map<String, BenchClient.Received> results =
                client.await(client.submit(shape.toSpec(batchId), shape.inputs()), Duration.ofMinutes(10));
        long end = results.values().stream()
                .mapToLong(BenchClient.Received::receivedNanos)
                .max()
                .orElse(System.nanoTime());
        run.endEpochMs = epochOffsetMs + end / 1_000_000;
        run.wallSeconds = (end - start) / 1e9;
        run.succeeded = results.values().stream()
                .filter(r -> r.result().getStatus() == JobStatus.SUCCEEDED)
                .count();
        run.calls = proxy.drain();
        run.modelCalls = run.calls.size();
        return run;
    }

    /**
     * Produce requests the workers' producers had rejected and sent again, by error, over the whole variant
     * (warm-up included): one WARN line of Kafka's Sender each ({@code bench-worker-logback.xml}).
     */
    private static Map<String, Integer> producerRetries(WorkerProcesses workers) {
        Map<String, Integer> byError = new java.util.TreeMap<>();
        for (WorkerProcesses.Worker worker : workers.workers()) {
            try {
                for (String line : Files.readAllLines(worker.log(), StandardCharsets.UTF_8)) {
                    int at = line.indexOf("Got error produce response");
                    if (at >= 0) {
                        byError.merge(
                                line.substring(line.lastIndexOf("Error: ") + 7).trim(), 1, Integer::sum);
                    }
                }
            } catch (java.io.IOException e) {
                byError.merge("unreadable log", 1, Integer::sum);
            }
        }
        return byError;
    }

    /** CPU time the worker processes used so far (all their threads), from the OS. */
    private static long workerCpuNanos(WorkerProcesses workers) {
        long sum = 0;
        for (WorkerProcesses.Worker worker : workers.workers()) {
            sum += worker.process()
                    .info()
                    .totalCpuDuration()
                    .map(Duration::toNanos)
                    .orElse(0L);
        }
        return sum;
    }

    /** CPU time this JVM used so far: the broker, the engine simulator, the proxy and the client. */
    private static long driverCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean)
                        java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    /** Per agent: turn-2 start - turn-1 end - tool time. */
    private static void overhead(SizeRun run, Map<String, Long> toolNanos) {
        Map<String, List<ModelCall>> byAgent = run.calls.stream().collect(Collectors.groupingBy(ModelCall::agentKey));
        List<Double> overhead = new ArrayList<>();
        List<Double> gaps = new ArrayList<>();
        List<Double> tools = new ArrayList<>();
        for (Map.Entry<String, List<ModelCall>> entry : byAgent.entrySet()) {
            ModelCall first = entry.getValue().stream()
                    .filter(c -> c.turn() == 1)
                    .findFirst()
                    .orElse(null);
            ModelCall second = entry.getValue().stream()
                    .filter(c -> c.turn() == 2)
                    .findFirst()
                    .orElse(null);
            if (first == null || second == null) {
                continue;
            }
            String key = entry.getKey()
                    .lines()
                    .findFirst()
                    .orElse("")
                    .replaceFirst("^Agent: ", "")
                    .trim();
            long tool = toolNanos.getOrDefault(key, 0L);
            double gap = (second.arrivedNanos() - first.endNanos()) / 1e6;
            gaps.add(gap);
            tools.add(tool / 1e6);
            overhead.add(gap - tool / 1e6);
        }
        run.overheadMs = Stats.of(overhead);
        run.gapMs = Stats.of(gaps);
        run.toolMs = Stats.of(tools);
        run.agentsMeasured = overhead.size();
    }

    /**
     * Where one agent's time between its two model calls goes, from the records' own timestamps (ms
     * clock, processing times: each segment includes the commit wait of the stage before it).
     */
    private static ObjectNode breakdown(Map<String, Object> kafka, Topics topics, SizeRun run, long epochOffsetMs) {
        Map<String, long[]> byJob =
                new HashMap<>(); // 0 t1 end, 1 requested, 2 dispatched, 3 started, 4 finished, 5 response ts, 6 turn2
        // emitted, 7 t2 arrive
        Map<String, String> jobByHash = new HashMap<>();
        for (ModelCall call : run.calls) {
            String job = run.jobByMessage.get(call.agentKey());
            if (job == null) {
                continue;
            }
            long[] t = byJob.computeIfAbsent(job, j -> new long[8]);
            if (call.turn() == 1) {
                t[0] = epochOffsetMs + call.endNanos() / 1_000_000;
            } else if (call.turn() == 2) {
                t[7] = epochOffsetMs + call.arrivedNanos() / 1_000_000;
            }
        }
        TopicScan.scan(kafka, topics.toolRequests().name(), r -> {
            ToolRequest request =
                    topics.toolRequests().valueSerde().deserializer().deserialize(r.topic(), r.value());
            long[] t = byJob.get(request.getJobId());
            if (t != null) {
                t[1] = request.getRequestedAtMs();
                jobByHash.put(request.getCallHash(), request.getJobId());
            }
        });
        TopicScan.scan(kafka, topics.toolCalls().name(), r -> {
            ToolCall call = topics.toolCalls().valueSerde().deserializer().deserialize(r.topic(), r.value());
            long[] t = byJob.get(jobByHash.get(call.getCallHash()));
            if (t != null) {
                t[2] = call.getDispatchedAtMs();
            }
        });
        TopicScan.scan(kafka, topics.toolResults().name(), r -> {
            ToolResult result = topics.toolResults().valueSerde().deserializer().deserialize(r.topic(), r.value());
            long[] t = byJob.get(jobByHash.get(result.getCallHash()));
            if (t != null) {
                t[3] = result.getStartedAtMs();
                t[4] = result.getFinishedAtMs();
            }
        });
        TopicScan.scan(kafka, topics.toolResponses().name(), r -> {
            ToolResponse response =
                    topics.toolResponses().valueSerde().deserializer().deserialize(r.topic(), r.value());
            long[] t = byJob.get(response.getJobId());
            if (t != null) {
                t[5] = r.timestamp();
            }
        });
        TopicScan.scan(kafka, topics.agentContinuations().name(), r -> {
            AgentTurn turn =
                    topics.agentContinuations().valueSerde().deserializer().deserialize(r.topic(), r.value());
            long[] t = byJob.get(turn.getJobId());
            if (t != null && turn.getTurn() == 2) {
                t[6] = turn.getEmittedAtMs();
            }
        });
        String[] names = {
            "inference worker: turn-1 answer -> tool request published",
            "coalescer: request -> call dispatched",
            "tool worker: call dispatched -> execution start",
            "tool execution",
            "coalescer: result -> responses fanned out",
            "turn assembler: response -> turn 2 emitted",
            "inference worker: turn 2 emitted -> model call sent"
        };
        Map<String, List<Double>> segments = new LinkedHashMap<>();
        for (String name : names) {
            segments.put(name, new ArrayList<>());
        }
        for (long[] t : byJob.values()) {
            boolean complete = true;
            for (long v : t) {
                complete &= v > 0;
            }
            if (!complete) {
                continue;
            }
            for (int i = 0; i < names.length; i++) {
                segments.get(names[i]).add((double) (t[i + 1] - t[i]));
            }
        }
        ObjectNode node = JsonNodeFactory.instance.objectNode();
        node.put("batch", run.batchId);
        node.put(
                "note",
                "ms clock; each stage stamps the time it processed a record, so a segment includes the previous stage's "
                        + "commit wait (exactly-once output is visible only at commit) and the consumer's fetch");
        segments.forEach((name, values) -> node.set(name, Json.stats(Stats.of(values))));
        return node;
    }

    /** Peak heap used (sampled) and peak heap after a collection (live), within [from, to]; 0 when none. */
    private static long[] heapPeaks(Path heapLog, long from, long to) {
        long peak = 0;
        long live = 0;
        try {
            for (String line : Files.readAllLines(heapLog, StandardCharsets.UTF_8)) {
                String[] parts = line.split(" ");
                if (parts.length != 3) {
                    continue;
                }
                long at = Long.parseLong(parts[1]);
                long bytes = Long.parseLong(parts[2]);
                if (at < from || at > to + 1_000) {
                    continue;
                }
                if (parts[0].equals("heap")) {
                    peak = Math.max(peak, bytes);
                } else if (parts[0].equals("gc")) {
                    live = Math.max(live, bytes);
                }
            }
        } catch (Exception e) {
            return new long[] {0, 0};
        }
        return new long[] {peak, live};
    }

    private static String mib(long bytes) {
        return Markdown.num(bytes / 1048576.0, 0) + " MiB";
    }

    private static Path report(
            BenchOptions options,
            List<SizeRun> runs,
            String description,
            boolean simulated,
            java.time.Instant startedAt,
            double loadAtStart) {
        Report report = new Report("scale", options.command(), options.engineUrl(), description, simulated);
        report.started(startedAt, loadAtStart);
        // Every process of the run (driver, broker, workers) shares this machine's cores; the report names them.
        int cores = Runtime.getRuntime().availableProcessors();
        ObjectNode config = report.config();
        config.put(
                "workload",
                "two-turn agents: turn 1 calls bench_noop (0 ms, a distinct key per agent), turn 2 answers");
        config.put(
                "workers",
                "batchagent worker --role all, -Xmx1g each, max_inflight " + MAX_INFLIGHT + ", " + PARTITIONS
                        + " partitions; the broker, the engine simulator, the recording proxy and the client run in the driver's JVM");
        config.put(
                "warmup",
                WARMUP_AGENTS
                        + " agents through the pipeline before the measured batches (JIT, group assignment); not counted");
        config.put(
                "overhead_definition",
                "turn-2 model call start - turn-1 model call end (both at the recording proxy) - tool execution time (from the tool, in its worker process)");
        List<List<String>> rows = new ArrayList<>();
        DefaultCategoryDataset chartData = new DefaultCategoryDataset();
        for (SizeRun run : runs) {
            ObjectNode node = report.runs().addObject();
            node.put("variant", run.variant);
            node.put("rep", run.rep + 1);
            node.put("product_defaults", run.productDefaults);
            node.put("processes", run.processes);
            node.put("agents", run.agents);
            Json.putNumber(node, "wall_s", run.wallSeconds);
            node.put("succeeded", run.succeeded);
            node.put("model_calls", run.modelCalls);
            Json.putNumber(node, "agent_turns_per_s", run.turnsPerSecond());
            node.put("agents_measured_for_overhead", run.agentsMeasured);
            node.set("kafka_overhead_per_turn_ms", Json.stats(run.overheadMs));
            node.set("gap_between_model_calls_ms", Json.stats(run.gapMs));
            node.set("tool_execution_ms", Json.stats(run.toolMs));
            node.putPOJO("producer_retries_in_variant_by_error", run.producerRetriesInVariant);
            Json.putNumber(node, "load_average_at_start", run.loadAverageAtStart);
            Json.putNumber(node, "worker_cpu_s", run.workerCpuSeconds);
            Json.putNumber(node, "driver_cpu_s", run.driverCpuSeconds);
            Json.putNumber(
                    node, "worker_cpu_ms_per_agent_turn", 1000 * run.workerCpuSeconds / Math.max(1, run.modelCalls));
            Json.putNumber(
                    node, "driver_cpu_ms_per_agent_turn", 1000 * run.driverCpuSeconds / Math.max(1, run.modelCalls));
            node.putPOJO("peak_heap_used_bytes_per_process", run.peakHeapBytes);
            node.putPOJO("peak_heap_after_gc_bytes_per_process", run.peakLiveHeapBytes);
            if (run.breakdown != null) {
                node.set("per_hop_breakdown", run.breakdown);
            }
            rows.add(List.of(
                    run.variant + (run.rep > 0 ? ", rep " + (run.rep + 1) : ""),
                    Markdown.count(run.agents),
                    Markdown.num(run.loadAverageAtStart, 1),
                    Markdown.num(run.wallSeconds, 2),
                    Markdown.num(run.turnsPerSecond(), 0),
                    Markdown.num(run.overheadMs.p50(), 1),
                    Markdown.num(run.overheadMs.p99(), 1),
                    Markdown.num(1000 * run.workerCpuSeconds / Math.max(1, run.modelCalls), 2),
                    Markdown.num(1000 * run.driverCpuSeconds / Math.max(1, run.modelCalls), 2),
                    run.peakHeapBytes.stream().map(ScaleOverhead::mib).toList().toString(),
                    run.peakLiveHeapBytes.stream()
                            .map(ScaleOverhead::mib)
                            .toList()
                            .toString(),
                    run.succeeded + "/" + run.agents,
                    run.producerRetriesInVariant.isEmpty() ? "none" : run.producerRetriesInVariant.toString()));
            chartData.addValue(
                    run.overheadMs.p50(), "overhead p50 (ms)", run.variant + ", " + Markdown.count(run.agents));
            chartData.addValue(
                    run.overheadMs.p99(), "overhead p99 (ms)", run.variant + ", " + Markdown.count(run.agents));
        }
        int smallest = runs.stream().mapToInt(r -> r.agents).min().orElse(0);
        int largest = runs.stream().mapToInt(r -> r.agents).max().orElse(0);
        SizeRun oneSmall = median(
                runs, r -> r.processes == 1 && r.productDefaults && r.agents == smallest, SizeRun::turnsPerSecond);
        SizeRun oneLarge = median(
                runs, r -> r.processes == 1 && r.productDefaults && r.agents == largest, SizeRun::turnsPerSecond);
        // Several processes run the sizes up to 1,000 only (variants): compare at the largest size both ran.
        int threeSize = runs.stream()
                .filter(r -> r.processes == 3)
                .mapToInt(r -> r.agents)
                .max()
                .orElse(0);
        SizeRun threeLarge = median(runs, r -> r.processes == 3 && r.agents == threeSize, SizeRun::turnsPerSecond);
        SizeRun oneAtThreeSize = median(
                runs, r -> r.processes == 1 && r.productDefaults && r.agents == threeSize, SizeRun::turnsPerSecond);
        if (oneSmall != null && oneLarge != null) {
            String load = "machine load average " + Markdown.num(report.loadAtStart(), 1) + " at start on " + cores
                    + " cores";
            String hopNote =
                    "per-hop breakdown below; each exactly-once hop holds its output until its next commit (20 ms interval) "
                            + "and pays a transaction per commit; " + load;
            // Negated: of an even number of repetitions, the median run is the slower middle one.
            SizeRun twenty = median(
                    runs, r -> r.processes == 1 && r.productDefaults && r.agents <= 20, r -> -r.overheadMs.p50());
            if (twenty != null) {
                report.target(
                        "Kafka overhead per agent turn at 20 agents, p50",
                        "at most 20 ms",
                        Markdown.num(twenty.overheadMs.p50(), 1) + " ms",
                        twenty.overheadMs.p50() <= 20,
                        hopNote);
                report.target(
                        "Kafka overhead per agent turn at 20 agents, p99",
                        "at most 60 ms",
                        Markdown.num(twenty.overheadMs.p99(), 1) + " ms",
                        twenty.overheadMs.p99() <= 60,
                        hopNote);
                report.readmeRow(
                        "Scale: Kafka overhead per agent turn, 20 agents, 1 worker process (target p50 <= 20 ms, p99 <= 60 ms)",
                        String.format(
                                java.util.Locale.ROOT,
                                "p50 %s ms, p99 %s ms (%s; load average %s on %d cores)",
                                Markdown.num(twenty.overheadMs.p50(), 1),
                                Markdown.num(twenty.overheadMs.p99(), 1),
                                twenty.overheadMs.p50() <= 20 && twenty.overheadMs.p99() <= 60 ? "met" : "missed",
                                Markdown.num(twenty.loadAverageAtStart, 1),
                                cores),
                        "not published");
            }
            SizeRun thousand = runs.stream()
                    .filter(r -> r.processes == 1 && r.productDefaults && r.agents == 1_000 && r.breakdown != null)
                    .findFirst()
                    .orElse(null);
            if (thousand != null && thousand.breakdown != null) {
                double worstHop = 0;
                String worstName = "";
                for (var e : (Iterable<java.util.Map.Entry<String, com.fasterxml.jackson.databind.JsonNode>>)
                        thousand.breakdown.properties()::iterator) {
                    if (e.getValue().isObject()
                            && !e.getKey().equals("tool execution")
                            && e.getValue().path("p50").asDouble() > worstHop) {
                        worstHop = e.getValue().path("p50").asDouble();
                        worstName = e.getKey();
                    }
                }
                report.target(
                        "Per-hop residence at 1,000 agents, p50 of the slowest hop",
                        "at most 40 ms",
                        Markdown.num(worstHop, 1) + " ms (" + worstName + ")",
                        worstHop <= 40,
                        "all 1,000 agents are submitted at once, so a hop's residence includes its queue behind the backlog; "
                                + load);
            }
            SizeRun tenThousand = median(
                    runs, r -> r.processes == 1 && r.productDefaults && r.agents >= 10_000, SizeRun::turnsPerSecond);
            report.target(
                    "agent-turns per second, instant engine, 10,000 agents, one process",
                    "at least 3,000",
                    tenThousand == null
                            ? "not run (--sizes without 10000)"
                            : Markdown.num(tenThousand.turnsPerSecond(), 0),
                    tenThousand == null ? null : tenThousand.turnsPerSecond() >= 3_000,
                    "bounded by CPU per turn (worker + driver CPU ms per turn in the table): the worker processes and the broker share "
                            + cores + " cores; "
                            + load);
            if (threeLarge != null && oneAtThreeSize != null) {
                double ratio = threeLarge.turnsPerSecond() / oneAtThreeSize.turnsPerSecond();
                report.target(
                        "three worker processes vs one, agent-turns/s at " + Markdown.count(threeSize) + " agents",
                        "at least 1.0x",
                        Markdown.num(ratio, 2) + "x",
                        ratio >= 1.0,
                        "three processes on the same " + cores + " cores measure contention, not scale-out; " + load);
            }
            long heap = oneLarge.peakHeapBytes.isEmpty() ? 0 : oneLarge.peakHeapBytes.get(0);
            long live = oneLarge.peakLiveHeapBytes.isEmpty() ? 0 : oneLarge.peakLiveHeapBytes.get(0);
            report.target(
                    Markdown.count(oneLarge.agents) + " concurrent agents within 1 GiB of heap",
                    "one worker process, -Xmx1g",
                    "completed " + oneLarge.succeeded + "/" + oneLarge.agents + "; heap used peak " + mib(heap)
                            + ", after-GC peak " + mib(live),
                    oneLarge.succeeded == oneLarge.agents && heap <= 1L << 30,
                    "sampled every 50 ms in the worker process; after-GC peak is the live set");
            report.readmeRow(
                    "Scale: " + Markdown.count(oneLarge.agents) + " two-turn agents, instant engine, 1 worker process",
                    String.format(
                            java.util.Locale.ROOT,
                            "%s agent-turns/s; Kafka overhead per turn p50 %s ms, p99 %s ms; heap peak %s (live %s) of 1 GiB",
                            Markdown.num(oneLarge.turnsPerSecond(), 0),
                            Markdown.num(oneLarge.overheadMs.p50(), 1),
                            Markdown.num(oneLarge.overheadMs.p99(), 1),
                            mib(heap),
                            mib(live)),
                    "not published");
            if (threeLarge != null) {
                report.readmeRow(
                        "Scale: " + Markdown.count(threeLarge.agents) + " agents, 3 worker processes",
                        String.format(
                                java.util.Locale.ROOT,
                                "%s agent-turns/s; overhead p50 %s ms, p99 %s ms",
                                Markdown.num(threeLarge.turnsPerSecond(), 0),
                                Markdown.num(threeLarge.overheadMs.p50(), 1),
                                Markdown.num(threeLarge.overheadMs.p99(), 1)),
                        "not published");
            }
        }
        report.note(
                "Every process of this benchmark (driver with broker, simulator and proxy; one or three workers) shares the same "
                        + cores
                        + " cores (load average at each run's start in the table): several processes on the same cores measure "
                        + "contention, not scale-out. Rerun on a machine with more cores for the scale-out figure.");
        runs.stream()
                .filter(r -> !r.productDefaults)
                .forEach(r -> report.note(String.format(
                        java.util.Locale.ROOT,
                        "Not the product's setting (%s): %s agents in one worker process see an overhead of %s ms p50, %s ms p99, at %s "
                                + "agent-turns/s, %s worker and %s driver CPU ms per turn.",
                        r.variant,
                        Markdown.count(r.agents),
                        Markdown.num(r.overheadMs.p50(), 1),
                        Markdown.num(r.overheadMs.p99(), 1),
                        Markdown.num(r.turnsPerSecond(), 0),
                        Markdown.num(1000 * r.workerCpuSeconds / Math.max(1, r.modelCalls), 2),
                        Markdown.num(1000 * r.driverCpuSeconds / Math.max(1, r.modelCalls), 2))));
        report.note(
                "All agents of a batch are submitted at once, so at 1,000 and 10,000 agents the overhead per turn is mostly "
                        + "queueing: every stage has the whole backlog in front of it, and a turn waits for the ones ahead of it (the throughput "
                        + "limit shows as latency). The 20-agent batch shows the per-hop latency of a lightly loaded pipeline.");
        report.note(
                "The instant profile costs no engine time, so wall time and agent-turns/s measure orchestration only (SIMULATED engine).");
        String markdown = "## Scale and Kafka overhead (instant engine profile)\n\n"
                + Markdown.table(
                        List.of(
                                "workers",
                                "agents",
                                "load average at start",
                                "wall s",
                                "agent-turns/s",
                                "overhead p50 ms",
                                "overhead p99 ms",
                                "worker CPU ms per turn",
                                "driver CPU ms per turn (broker, simulator, proxy, client)",
                                "heap used peak per process",
                                "heap after GC peak per process",
                                "succeeded",
                                "produce requests resent in the variant (by error)"),
                        rows);
        markdown += medians(runs);
        for (SizeRun run : runs) {
            if (run.breakdown == null) {
                continue;
            }
            List<List<String>> hops = new ArrayList<>();
            run.breakdown.properties().forEach(e -> {
                if (e.getValue().isObject()) {
                    hops.add(List.of(
                            e.getKey(),
                            e.getValue().path("p50").asText(),
                            e.getValue().path("p99").asText()));
                }
            });
            markdown += "\n### Where the time between two model calls goes (" + Markdown.count(run.agents) + " agents, "
                    + run.variant + ")\n\n"
                    + Markdown.table(List.of("segment (ms clock, processing times)", "p50 ms", "p99 ms"), hops);
        }
        JFreeChart chart = ChartFactory.createBarChart(
                "Kafka orchestration overhead per agent turn" + (simulated ? " (instant SIMULATED engine)" : ""),
                "run",
                "milliseconds",
                chartData,
                PlotOrientation.VERTICAL,
                true,
                false,
                false);
        return report.write(options.resultsDir().resolve("scale"), markdown, chart);
    }
}
