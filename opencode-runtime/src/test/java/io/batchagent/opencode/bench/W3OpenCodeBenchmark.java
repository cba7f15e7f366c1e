package io.batchagent.opencode.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.gateway.Gateway;
import io.batchagent.gateway.GatewayConfig;
import io.batchagent.gateway.JobUsage;
import io.batchagent.gateway.PrefixReport;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.inference.WarmUpReport;
import io.batchagent.opencode.OpenCodeJob;
import io.batchagent.opencode.OpenCodeRuntime;
import io.batchagent.opencode.OpenCodeSettings;
import io.batchagent.opencode.OpenCodeSettings.Isolation;
import io.batchagent.opencode.SessionResult;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.simulator.SimulatorStats;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * W3 (BENCHMARKS.md) with real OpenCode sessions on the engine simulator: N sessions, each with its own
 * task (run one shell command with OpenCode's bash tool, then answer), under three conditions, each on a
 * fresh simulator (so that no condition inherits another's cache):
 *
 * <ol>
 *   <li><b>isolated</b>: sessions one after another, the engine's cache flushed before each;
 *   <li><b>shared, before</b>: all sessions at once, prefix warmed once, but each session in its own
 *       directory (no namespace): their prompts differ from the working directory on;
 *   <li><b>shared, after</b>: all at once, prefix warmed once, every session in its own mount namespace
 *       with its workspace at the same path: prompts identical up to the task.
 * </ol>
 *
 * Prefill tokens are measured at the gateway (prompt minus cached tokens of every session call, as the
 * engine reported them); the warm-up's own prefill is reported apart. Not a test: run it with
 *
 * <pre>
 * cd /work/main &amp;&amp; mvn -q -pl opencode-runtime test-compile exec:java -Dexec.classpathScope=test \
 *   -Dexec.mainClass=io.batchagent.opencode.bench.W3OpenCodeBenchmark \
 *   -Dexec.args="--sizes 5,10,20 --out opencode-runtime/results/w3-opencode"
 * </pre>
 */
public final class W3OpenCodeBenchmark {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final String PROFILE = "h100-qwen2.5-32b";
    private static final double SPEEDUP = 1.0;
    private static final int MAX_INFLIGHT = 16;
    private static final Duration SESSION_TIMEOUT = Duration.ofMinutes(10);

    private W3OpenCodeBenchmark() {}

    /** One condition's figures. */
    record Run(
            String condition,
            int sessions,
            int succeeded,
            double wallSeconds,
            long sessionPrefill,
            long warmUpPrefill,
            long sessionPrompt,
            long sessionCached,
            long modelCalls,
            long enginePrefill,
            PrefixReport sharing,
            WarmUpReport warmUp,
            int gatewayPeakInFlight,
            int enginePeakInFlight,
            String isolation) {}

    public static void main(String[] args) throws Exception {
        List<Integer> sizes = List.of(5, 10, 20);
        Path out = Path.of("opencode-runtime/results/w3-opencode");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--sizes" ->
                    sizes = Arrays.stream(args[++i].split(","))
                            .map(String::trim)
                            .map(Integer::parseInt)
                            .toList();
                case "--out" -> out = Path.of(args[++i]);
                case "--render" -> {
                    // Rewrites results.md from an earlier run's results.json, running nothing.
                    Path dir = Path.of(args[++i]);
                    Files.writeString(
                            dir.resolve("results.md"),
                            markdown(JSON.readTree(dir.resolve("results.json").toFile())));
                    System.out.println(Files.readString(dir.resolve("results.md")));
                    return;
                }
                default ->
                    throw new IllegalArgumentException(
                            "unknown option " + args[i] + " (--sizes 5,10,20 --out DIR, or --render DIR)");
            }
        }
        if (OpenCodeRuntime.findExecutable(OpenCodeSettings.DEFAULT_EXECUTABLE).isEmpty()) {
            throw new IllegalStateException("opencode is not installed: run opencode-runtime/install-opencode.sh");
        }
        Files.createDirectories(out);
        Path work = Files.createTempDirectory("w3-opencode-");
        List<Run> runs = new ArrayList<>();
        Instant started = Instant.now();
        for (int n : sizes) {
            runs.add(isolated(n, work));
            runs.add(shared(n, work, Isolation.NONE, "shared, before (no namespace)"));
            runs.add(shared(n, work, Isolation.NAMESPACE, "shared, after (namespace)"));
            write(out, runs, started);
        }
        System.out.println(Files.readString(out.resolve("results.md")));
    }

    private static Run isolated(int n, Path work) throws Exception {
        String batch = "w3-isolated-" + n;
        try (EngineSimulator engine = engine();
                Gateway gateway = gateway(engine);
                OpenCodeRuntime runtime = new OpenCodeRuntime(settings(work, 1, Isolation.NAMESPACE), gateway)) {
            awaitProbe(gateway);
            engine.resetStats();
            long start = System.nanoTime();
            List<SessionResult> results = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                engine.flushCache();
                results.add(runtime.submit(job(batch, i)).get(SESSION_TIMEOUT.toMinutes() + 1, TimeUnit.MINUTES));
            }
            double wall = (System.nanoTime() - start) / 1e9;
            return summarise("isolated", n, results, wall, gateway, engine, batch, runtime.isolation());
        }
    }

    private static Run shared(int n, Path work, Isolation isolation, String condition) throws Exception {
        String batch = "w3-shared-" + isolation.name().toLowerCase(Locale.ROOT) + "-" + n;
        try (EngineSimulator engine = engine();
                Gateway gateway = gateway(engine);
                OpenCodeRuntime runtime = new OpenCodeRuntime(settings(work, n, isolation), gateway)) {
            awaitProbe(gateway);
            engine.resetStats();
            long start = System.nanoTime();
            runtime.warmUp(batch).get(SESSION_TIMEOUT.toMinutes(), TimeUnit.MINUTES);
            List<CompletableFuture<SessionResult>> sessions = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                sessions.add(runtime.submit(job(batch, i)));
            }
            List<SessionResult> results = new ArrayList<>();
            for (CompletableFuture<SessionResult> session : sessions) {
                results.add(session.get(SESSION_TIMEOUT.toMinutes() + 1, TimeUnit.MINUTES));
            }
            double wall = (System.nanoTime() - start) / 1e9;
            return summarise(condition, n, results, wall, gateway, engine, batch, runtime.isolation());
        }
    }

    private static OpenCodeJob job(String batch, int i) {
        return OpenCodeJob.of(
                batch + "-" + i,
                batch,
                String.format(
                        "Command: echo session %d checks module-%d\nDescription: print which module session %d checks\n"
                                + "Then report the result in one sentence.",
                        i, i, i));
    }

    private static Run summarise(
            String condition,
            int n,
            List<SessionResult> results,
            double wall,
            Gateway gateway,
            EngineSimulator engine,
            String batch,
            Isolation isolation) {
        long prefill = 0;
        long prompt = 0;
        long cached = 0;
        long calls = 0;
        int succeeded = 0;
        for (SessionResult result : results) {
            succeeded += result.succeeded() ? 1 : 0;
            if (!result.succeeded()) {
                System.err.println("session " + result.jobId() + " " + result.status() + ": " + result.errorMessage());
            }
            JobUsage usage = result.usage().orElse(null);
            if (usage != null) {
                prefill += usage.prefillTokens();
                prompt += usage.promptTokens();
                cached += usage.cachedPromptTokens();
                calls += usage.modelCalls();
            }
        }
        long warmUpPrefill = gateway.usage(Gateway.WARM_UP_JOB_PREFIX + batch)
                .map(JobUsage::prefillTokens)
                .orElse(0L);
        SimulatorStats stats = engine.stats();
        Run run = new Run(
                condition,
                n,
                succeeded,
                wall,
                prefill,
                warmUpPrefill,
                prompt,
                cached,
                calls,
                stats.prefillTokensComputed(),
                gateway.prefixSharing(batch),
                gateway.warmUpReport(batch).orElse(null),
                gateway.stats().peakInFlight(),
                stats.peakInFlight(),
                isolation.name());
        System.err.printf(
                Locale.ROOT,
                "N=%d %s: %d/%d ok, wall %.1f s, prefill %,d (+%,d warm-up), shared fraction %.3f%n",
                n,
                condition,
                succeeded,
                n,
                wall,
                prefill,
                warmUpPrefill,
                run.sharing().sharedFraction());
        return run;
    }

    private static EngineSimulator engine() {
        return EngineSimulator.start(
                SimulatorOptions.builder().profile(PROFILE).speedup(SPEEDUP).build());
    }

    private static Gateway gateway(EngineSimulator engine) {
        return Gateway.start(
                GatewayConfig.forModel("sim-model").withMaxInflight(MAX_INFLIGHT),
                EngineEndpoint.parse("sglang://127.0.0.1:" + engine.port()),
                InferenceWorkerConfig.defaults());
    }

    /** The gateway probes the engine at start; its probe call must not count in the figures. */
    private static void awaitProbe(Gateway gateway) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            java.net.http.HttpResponse<String> models = java.net.http.HttpClient.newHttpClient()
                    .send(
                            java.net.http.HttpRequest.newBuilder(java.net.URI.create(gateway.baseUri() + "/v1/models"))
                                    .build(),
                            java.net.http.HttpResponse.BodyHandlers.ofString());
            if (models.statusCode() == 200) {
                return;
            }
        }
        throw new IllegalStateException("the gateway did not answer /v1/models");
    }

    private static OpenCodeSettings settings(Path work, int sessions, Isolation isolation) {
        return OpenCodeSettings.forModel("sim-model")
                .withWorkDir(work)
                .withMaxSessions(sessions)
                .withIsolation(isolation)
                .withSessionTimeout(SESSION_TIMEOUT);
    }

    private static void write(Path out, List<Run> runs, Instant started) throws Exception {
        ObjectNode root = JSON.createObjectNode();
        root.put("workload", "w3-opencode");
        root.put("engine", "engine simulator, profile " + PROFILE + ", speedup " + SPEEDUP + " (SIMULATED)");
        root.put(
                "opencode",
                "opencode-ai 1.18.33, `opencode run --format json`, one bash tool call then an answer per session");
        root.put("gatewayMaxInflight", MAX_INFLIGHT);
        root.put("startedAt", started.toString());
        root.put("host", Runtime.getRuntime().availableProcessors() + " CPUs");
        ArrayNode list = root.putArray("runs");
        for (Run run : runs) {
            ObjectNode node = list.addObject();
            node.put("condition", run.condition());
            node.put("isolation", run.isolation());
            node.put("sessions", run.sessions());
            node.put("succeeded", run.succeeded());
            node.put("wallSeconds", Math.round(run.wallSeconds() * 100) / 100.0);
            node.put("prefillTokens", run.sessionPrefill());
            node.put("warmUpPrefillTokens", run.warmUpPrefill());
            node.put("prefillTokensWithWarmUp", run.sessionPrefill() + run.warmUpPrefill());
            node.put("promptTokens", run.sessionPrompt());
            node.put("cachedPromptTokens", run.sessionCached());
            node.put("modelCalls", run.modelCalls());
            node.put("enginePrefillTokensComputed", run.enginePrefill());
            node.put("gatewayPeakInFlight", run.gatewayPeakInFlight());
            node.put("enginePeakInFlight", run.enginePeakInFlight());
            ObjectNode sharing = node.putObject("prefixSharing");
            sharing.put("sessions", run.sharing().sessions());
            sharing.put("sharedFraction", Math.round(run.sharing().sharedFraction() * 10_000) / 10_000.0);
            sharing.put("commonPrefixChars", run.sharing().commonPrefixChars());
            sharing.put("meanFirstPromptChars", Math.round(run.sharing().meanPromptChars()));
            sharing.put("estimatedCommonPrefixTokens", run.sharing().estimatedCommonPrefixTokens());
            sharing.put("meanFirstPromptTokens", Math.round(run.sharing().meanPromptTokens()));
            if (run.warmUp() != null) {
                node.put("warmUp", run.warmUp().outcome() + ": " + run.warmUp().detail());
            }
        }
        Files.writeString(out.resolve("results.json"), JSON.writeValueAsString(root));
        Files.writeString(out.resolve("results.md"), markdown(root));
    }

    private static String markdown(JsonNode root) {
        StringBuilder md = new StringBuilder();
        md.append("# W3 with real OpenCode sessions (")
                .append(root.path("engine").asText())
                .append(")\n\n")
                .append("opencode-ai 1.18.33 sessions through the BatchAgent gateway (")
                .append(root.path("gatewayMaxInflight").asInt())
                .append(
                        " in-flight slots); each session has its own task: run one shell command with the bash tool, then ")
                .append(
                        "answer (2 model calls). Each condition ran on a fresh simulator. Prefill = prompt - cached tokens of ")
                .append(
                        "the sessions' calls, as the engine reported them, summed at the gateway; the warm-up's own prefill ")
                .append(
                        "is shown apart (the published figures leave it out). Shared fraction = characters every session's ")
                .append(
                        "first call starts with / mean first-call length, measured at the gateway; common-prefix tokens are ")
                .append(
                        "estimated with the engine's tokens per character. Wall times include OpenCode's own start-up (about ")
                .append("3.5 CPU-s per session) on a machine with ")
                .append(root.path("host").asText())
                .append(": with the prefix shared, OpenCode's CPU, not the engine, bounds the wall time.\n\n")
                .append("| N | condition | ok | wall s | wall vs isolated | prefill (sessions) | warm-up prefill "
                        + "| prefill vs isolated, warm-up left out / included | shared fraction | common prefix ~tokens "
                        + "/ first prompt tokens | engine peak in flight |\n")
                .append("|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (JsonNode run : root.path("runs")) {
            JsonNode isolated = null;
            for (JsonNode other : root.path("runs")) {
                if (other.path("sessions").asInt() == run.path("sessions").asInt()
                        && other.path("condition").asText().equals("isolated")) {
                    isolated = other;
                }
            }
            boolean self = run.path("condition").asText().equals("isolated");
            long prefill = run.path("prefillTokens").asLong();
            long warmUp = run.path("warmUpPrefillTokens").asLong();
            String versus = self || isolated == null
                    ? "-"
                    : change(isolated.path("prefillTokens").asLong(), prefill) + " / "
                            + change(isolated.path("prefillTokens").asLong(), prefill + warmUp);
            String speed = self || isolated == null
                    ? "-"
                    : String.format(
                            Locale.ROOT,
                            "%.2fx",
                            isolated.path("wallSeconds").asDouble()
                                    / run.path("wallSeconds").asDouble());
            JsonNode sharing = run.path("prefixSharing");
            md.append(String.format(
                    Locale.ROOT,
                    "| %d | %s | %d/%d | %.1f | %s | %,d | %,d | %s | %.1f%% | %,d / %,d | %d |%n",
                    run.path("sessions").asInt(),
                    run.path("condition").asText(),
                    run.path("succeeded").asInt(),
                    run.path("sessions").asInt(),
                    run.path("wallSeconds").asDouble(),
                    speed,
                    prefill,
                    warmUp,
                    versus,
                    100 * sharing.path("sharedFraction").asDouble(),
                    sharing.path("estimatedCommonPrefixTokens").asLong(),
                    sharing.path("meanFirstPromptTokens").asLong(),
                    run.path("enginePeakInFlight").asInt()));
        }
        return md.toString();
    }

    private static String change(long baseline, long value) {
        double percent = 100.0 * (baseline - value) / baseline;
        return percent >= 0
                ? String.format(Locale.ROOT, "%.1f%% less", percent)
                : String.format(Locale.ROOT, "%.1f%% more", -percent);
    }
}
