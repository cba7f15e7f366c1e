package io.batchagent.bench.workload;

import io.batchagent.bench.harness.KafkaHarness;
import io.batchagent.bench.harness.TopicScan;
import io.batchagent.bench.harness.WireSizes;
import io.batchagent.bench.tools.PageTool;
import io.batchagent.cli.PipelineConfig;
import io.batchagent.events.AgentResult;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.CompactionMode;
import io.batchagent.events.CompactionPolicy;
import io.batchagent.events.JobStatus;
import io.batchagent.schemas.OutputRefs;
import io.batchagent.simulator.EngineProfile;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;

/**
 * Long agents (issue 13), per compaction mode: N agents whose SIMULATED model calls an 8 KB tool for T
 * turns before answering, on a 32k-token context the simulator enforces (SGLang's refusal). Per mode:
 * jobs succeeded, bytes written to Kafka per job (key and value, uncompressed, of every committed record
 * on every topic of the run: BatchAgent's topics and the Streams changelogs and repartition topics),
 * prompt tokens per model call, the cached share of prompt tokens, compactions per job, and wall time.
 * A last row measures today's wire cost of the issue's 20-turn x 4 KB agent without compaction or
 * context window. One broker, one pipeline per row (its own topic prefix), the engine simulator only.
 */
public final class LongAgents {

    static final String INSTRUCTION = "You are a research agent that reads many pages before answering. "
            + "Final answers must be JSON matching the requested schema.";
    static final String TASK = "Topic: {topic}";
    static final String SCHEMA = "{\"type\":\"object\",\"properties\":{\"topic\":{\"type\":\"string\"},"
            + "\"answer\":{\"type\":\"string\"}},\"required\":[\"topic\",\"answer\"]}";

    /** One measured row. */
    record Row(String label, CompactionMode mode, int turns, int pageChars, int contextTokens, boolean inline) {
        Row(String label, CompactionMode mode, int turns, int pageChars, int contextTokens) {
            this(label, mode, turns, pageChars, contextTokens, false);
        }
    }

    /** Agents per row in the issue's own run (issue 13), which `bench/run all` reproduces. */
    public static final int ISSUE_AGENTS = 200;

    private LongAgents() {}

    /** @param agents agents per row (default 20) */
    public static Path run(BenchOptions options, Integer agents) throws Exception {
        return run(options, agents, null);
    }

    /**
     * @param agents agents per row (default 20)
     * @param only the rows to run, 1-based (null or empty: all)
     */
    public static Path run(BenchOptions options, Integer agents, List<Integer> only) throws Exception {
        int n = agents == null ? 20 : agents;
        String profile =
                options.engineUrl().startsWith("sim://") ? options.engineUrl().substring("sim://".length()) : "";
        if (!options.engineUrl().startsWith("sim://")) {
            throw new IllegalArgumentException("the long-agent benchmark needs the engine simulator (sim://<profile>): "
                    + "its model's tool turns and context window are scripted");
        }
        List<Row> all = List.of(
                new Row("30 turns x 8 KB, 32k context, none", CompactionMode.NONE, 30, 8192, 32_768),
                new Row("30 turns x 8 KB, 32k context, truncate", CompactionMode.TRUNCATE, 30, 8192, 32_768),
                new Row("30 turns x 8 KB, 32k context, summarize", CompactionMode.SUMMARIZE, 30, 8192, 32_768),
                new Row("20 turns x 4 KB, no context limit, none (wire cost)", CompactionMode.NONE, 20, 4096, 0),
                new Row(
                        "20 turns x 4 KB, no context limit, none, every output inline (as before issue 13 item 3)",
                        CompactionMode.NONE,
                        20,
                        4096,
                        0,
                        true));
        List<Row> rows = only == null || only.isEmpty()
                ? all
                : only.stream().map(i -> all.get(i - 1)).toList();
        StringBuilder table = new StringBuilder()
                .append("# Long agents: compaction modes (SIMULATED engine)\n\n")
                .append("Command: `")
                .append(options.command())
                .append("`; ")
                .append(n)
                .append(" agents per row, engine ")
                .append(options.engineUrl())
                .append(", speedup ")
                .append(options.speedup())
                .append(".\n\n")
                .append(
                        "| shape, mode | succeeded | bytes on the wire per job | final conversation per job | wire / conversation | "
                                + "prompt tokens per model call | cached share | compactions per job | wall |\n"
                                + "|---|---|---|---|---|---|---|---|---|\n");
        StringBuilder breakdowns = new StringBuilder();
        try (KafkaHarness kafka = KafkaHarness.start(options.workDir().resolve("long-agents"))) {
            int index = 0;
            for (Row row : rows) {
                Measured measured = measure(kafka, options, profile, n, row, "long" + index++ + ".");
                table.append(measured.row()).append('\n');
                breakdowns.append(measured.breakdown()).append('\n');
                System.err.println(table);
            }
        }
        table.append(
                        "\nBytes are key plus value, uncompressed, of every committed record of the run's topics (BatchAgent's "
                                + "topics, the Streams changelogs and repartition topics), divided by the agents. The final conversation "
                                + "is the serialized size of a job's last conversation (its last agent-continuations record) with every "
                                + "tool output inline, averaged over the jobs.\n\n## Where the bytes go, per topic\n\n")
                .append(breakdowns);
        Path dir = options.resultsDir().resolve("long-agents");
        Files.createDirectories(dir);
        Path out = dir.resolve("results.md");
        Files.writeString(out, table.toString(), StandardCharsets.UTF_8);
        return out;
    }

    /** A row of the summary table and its per-topic breakdown. */
    record Measured(String row, String breakdown) {}

    private static Measured measure(
            KafkaHarness kafka, BenchOptions options, String profile, int agents, Row row, String prefix)
            throws Exception {
        SimulatorOptions.Builder engine = SimulatorOptions.builder()
                .profile(profile.isBlank() ? EngineProfile.INSTANT : EngineProfile.named(profile))
                .speedup(options.speedup())
                .toolTurns(row.turns())
                .contextTokens(row.contextTokens());
        try (EngineSimulator simulator = EngineSimulator.start(engine.build())) {
            PipelineConfig config = kafka.config(
                    prefix,
                    simulator.baseUrl(),
                    32,
                    Map.of(PageTool.NAME + ".chars", Integer.toString(row.pageChars())),
                    true,
                    4);
            if (row.inline()) {
                config = config.withSerdeConfig(Map.of(OutputRefs.INLINE_LIMIT_CONFIG, "0"));
            }
            List<AgentResult> results;
            long wallNanos;
            try (KafkaHarness.Run run = kafka.startPipeline(config, KafkaHarness.ALL_STAGES)) {
                BatchSpec spec = spec(prefix + "batch", row);
                List<String> inputs = IntStream.range(0, agents)
                        .mapToObj(i -> "{\"topic\":\"long agent " + i + "\"}")
                        .toList();
                long start = System.nanoTime();
                List<String> jobIds = run.client().submit(spec, inputs);
                results = run.client().await(jobIds, Duration.ofMinutes(30)).values().stream()
                        .map(received -> received.result())
                        .toList();
                wallNanos = System.nanoTime() - start;
            }
            Map<String, long[]> perTopic = bytesPerTopic(kafka, prefix);
            long bytes = perTopic.values().stream().mapToLong(v -> v[1]).sum();
            double conversation = WireSizes.finalConversationBytes(kafka.kafkaConfig(), prefix);
            long succeeded = results.stream()
                    .filter(r -> r.getStatus() == JobStatus.SUCCEEDED)
                    .count();
            long prompt = results.stream()
                    .mapToLong(r -> r.getUsage().getPromptTokens())
                    .sum();
            long cached = results.stream()
                    .mapToLong(r -> r.getUsage().getCachedPromptTokens())
                    .sum();
            long calls = results.stream()
                    .mapToLong(r -> r.getUsage().getModelCalls())
                    .sum();
            long compactions =
                    results.stream().mapToLong(r -> r.getCompactions().size()).sum();
            List<String> reasons = new ArrayList<>();
            results.stream()
                    .filter(r -> r.getError() != null)
                    .map(r -> r.getError().getReason().toString())
                    .distinct()
                    .forEach(reasons::add);
            String line = String.format(
                    Locale.ROOT,
                    "| %s | %d/%d%s | %,d | %,.0f | %.2fx | %,d | %.1f%% | %.1f | %.1f s |",
                    row.label(),
                    succeeded,
                    agents,
                    reasons.isEmpty() ? "" : " (failed: " + String.join(", ", reasons) + ")",
                    bytes / agents,
                    conversation,
                    conversation == 0 ? 0 : bytes / (double) agents / conversation,
                    calls == 0 ? 0 : prompt / calls,
                    prompt == 0 ? 0 : 100.0 * cached / prompt,
                    (double) compactions / agents,
                    wallNanos / 1e9);
            StringBuilder breakdown =
                    new StringBuilder("### ").append(row.label()).append("\n\n");
            results.stream()
                    .filter(r -> r.getError() != null)
                    .collect(java.util.stream.Collectors.groupingBy(
                            r -> r.getError().getReason().toString(),
                            TreeMap::new,
                            java.util.stream.Collectors.toList()))
                    .forEach((reason, failed) -> breakdown
                            .append("Failed ")
                            .append(reason)
                            .append(": ")
                            .append(failed.size())
                            .append(" jobs; the first one's message: `")
                            .append(failed.get(0)
                                    .getError()
                                    .getMessage()
                                    .toString()
                                    .replace('`', '\''))
                            .append("`\n\n"));
            breakdown.append("| topic | records per job | bytes per job | share |\n|---|---|---|---|\n");
            perTopic.entrySet().stream()
                    .sorted((a, b) -> Long.compare(b.getValue()[1], a.getValue()[1]))
                    .forEach(e -> breakdown.append(String.format(
                            Locale.ROOT,
                            "| %s | %.1f | %,d | %.1f%% |\n",
                            e.getKey().substring(prefix.length()),
                            e.getValue()[0] / (double) agents,
                            e.getValue()[1] / agents,
                            bytes == 0 ? 0 : 100.0 * e.getValue()[1] / bytes)));
            return new Measured(line, breakdown.toString());
        }
    }

    private static BatchSpec spec(String batchId, Row row) {
        io.batchagent.schemas.serde.EventSerdes.trustEventClasses();
        return BatchSpec.newBuilder()
                .setBatchId(batchId)
                .setModel("sim-model")
                .setSystemPrompt(INSTRUCTION)
                .setTaskTemplate(TASK)
                .setTools(List.of(BatchShape.tool(
                        PageTool.NAME,
                        "Fetch a page about a query.",
                        new PageTool().parametersJson(),
                        30_000,
                        false,
                        0)))
                .setOutputSchemaJson(SCHEMA)
                .setMaxTurns(row.turns() + 1)
                .setMaxTokens(256)
                .setContextTokens(row.contextTokens())
                .setCompaction(
                        row.mode() == CompactionMode.NONE
                                ? null
                                : CompactionPolicy.newBuilder()
                                        .setMode(row.mode())
                                        .build())
                .setExpectedJobs(0)
                .setCreatedAtMs(System.currentTimeMillis())
                .setOptions(Map.of())
                .build();
    }

    /**
     * Per topic whose name starts with {@code prefix}: the number of committed records and their key and
     * value bytes.
     */
    private static Map<String, long[]> bytesPerTopic(KafkaHarness kafka, String prefix) throws Exception {
        List<String> topics;
        try (Admin admin = Admin.create(kafka.kafkaConfig())) {
            topics = admin.listTopics().names().get().stream()
                    .filter(t -> t.startsWith(prefix))
                    .sorted()
                    .toList();
        }
        Map<String, long[]> perTopic = new TreeMap<>();
        for (String topic : topics) {
            long[] counts = new long[2];
            TopicScan.scan(kafka.kafkaConfig(), topic, record -> {
                counts[0]++;
                counts[1] += (record.key() == null ? 0 : record.key().length)
                        + (record.value() == null ? 0 : record.value().length);
            });
            perTopic.put(topic, counts);
        }
        return perTopic;
    }
}
