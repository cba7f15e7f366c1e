package io.batchagent.cli;

import io.batchagent.client.BatchClient;
import io.batchagent.client.ResultJson;
import io.batchagent.events.AgentResult;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.JobStatus;
import io.batchagent.gateway.GatewayConfig;
import io.batchagent.gateway.GatewayStats;
import io.batchagent.gateway.PrefixReport;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.kafka.embedded.EmbeddedKafkaBroker;
import io.batchagent.opencode.OpenCodeSettings;
import io.batchagent.opencode.OpenCodeStage;
import io.batchagent.opencode.OpenCodeTopics;
import io.batchagent.opencode.OpenCodeWorker;
import io.batchagent.schemas.CallHash;
import io.batchagent.schemas.TopicProvisioner;
import io.batchagent.schemas.Topics;
import io.batchagent.simulator.EngineSimulator;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code batchagent opencode}: a batch of OpenCode sessions, one per input, through the BatchAgent gateway. */
@Command(
        name = "opencode",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description =
                "Run one OpenCode session (`opencode run`) per input through the BatchAgent gateway, on an embedded "
                        + "Kafka broker unless --bootstrap-servers is given, and print the results. Needs opencode-ai 1.18.33 "
                        + "(opencode-runtime/install-opencode.sh).")
final class OpenCodeCommand implements Callable<Integer> {

    private static final int PARTITIONS = 4;

    @Option(
            names = "--task",
            required = true,
            paramLabel = "FILE",
            description = "Task template: each session's message, with {variable} placeholders.")
    Path task;

    @Option(
            names = "--inputs",
            required = true,
            paramLabel = "FILE",
            description = "Inputs, one JSON object per line (JSONL).")
    Path inputs;

    @Option(
            names = "--workspace",
            paramLabel = "DIR",
            description =
                    "A directory copied into each session's workspace; may hold {variable} placeholders, e.g. /repos/{repo}.")
    String workspace;

    @Option(
            names = "--backend",
            defaultValue = "sim://",
            description = "Engine URL, as for 'run' (default: ${DEFAULT-VALUE}). API key from $"
                    + BatchAgentCommand.API_KEY_ENV + ".")
    String backend;

    @Option(names = "--model", defaultValue = "sim-model", description = "Model name (default: ${DEFAULT-VALUE}).")
    String model;

    @Option(
            names = "--max-inflight",
            defaultValue = "32",
            description = "Model calls at the engine at once, all sessions together (default: ${DEFAULT-VALUE}).")
    int maxInflight;

    @Option(
            names = "--max-sessions",
            defaultValue = "4",
            description =
                    "OpenCode sessions at once; each takes about 3.5 CPU-s and 550 MB (default: ${DEFAULT-VALUE}).")
    int maxSessions;

    @Option(
            names = "--deadline",
            defaultValue = "1800",
            paramLabel = "SECONDS",
            description = "Per-session deadline (default: ${DEFAULT-VALUE}).")
    long deadlineSeconds;

    @Option(
            names = "--context-tokens",
            defaultValue = "32768",
            description = "The model's context window, told to OpenCode (default: ${DEFAULT-VALUE}).")
    int contextTokens;

    @Option(
            names = "--output-tokens",
            defaultValue = "4096",
            description = "Output tokens per model call at most (default: ${DEFAULT-VALUE}).")
    int outputTokens;

    @Option(
            names = "--isolation",
            defaultValue = "AUTO",
            description = "NAMESPACE, NONE or AUTO (default: ${DEFAULT-VALUE}).")
    OpenCodeSettings.Isolation isolation;

    @Option(names = "--no-warm-up", description = "Do not warm the shared prefix before the sessions start.")
    boolean noWarmUp;

    @Option(names = "--output", paramLabel = "FILE", description = "Write every result as a JSON line to FILE.")
    Path output;

    @Option(names = "--bootstrap-servers", description = "Use this Kafka cluster instead of an embedded broker.")
    String bootstrapServers;

    @Option(
            names = "--data-dir",
            defaultValue = "data",
            description = "Embedded broker and session directories (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(
            names = "--batch-id",
            description = "Batch id (default: derived from the task and inputs, so a rerun resumes).")
    String batchId;

    @Option(names = "--topic-prefix", defaultValue = "", description = "Prefix of every topic name.")
    String topicPrefix;

    @Option(names = "--sim-tool-rule", description = "Tool-call rule of the simulator's scripted model.")
    String simToolRule;

    @Override
    public Integer call() throws Exception {
        String template = Files.readString(task, StandardCharsets.UTF_8).strip();
        List<String> inputsJson = Files.readAllLines(inputs, StandardCharsets.UTF_8).stream()
                .map(String::strip)
                .filter(line -> !line.isEmpty())
                .toList();
        String id = batchId != null
                ? batchId
                : "opencode-"
                        + CallHash.ofCanonical("opencode-batch", template + "\n" + String.join("\n", inputsJson))
                                .substring(0, 12);
        EmbeddedKafkaBroker broker =
                bootstrapServers == null ? EmbeddedKafkaBroker.start(dataDir.resolve("kafka")) : null;
        EngineSimulator simulator = null;
        try {
            simulator = BatchRunner.startSimulator(new BatchRunner.Settings(
                    null, dataDir, backend, null, simToolRule, null, maxInflight, Map.of(), topicPrefix, null));
            String engineUrl = simulator != null ? BatchRunner.engineUrl(simulator) : backend;
            Map<String, Object> kafka =
                    Map.of("bootstrap.servers", broker != null ? broker.bootstrapServers() : bootstrapServers);
            Topics topics = Topics.create(topicPrefix, Map.of());
            try (Admin admin = Admin.create(kafka)) {
                TopicProvisioner.ensure(admin, topics, PARTITIONS, (short) -1);
            }
            InferenceWorkerConfig engineConfig =
                    InferenceWorkerConfig.defaults().withEngineApiKey(BatchAgentCommand.apiKey(backend));
            OpenCodeSettings settings = OpenCodeSettings.forModel(model)
                    .withMaxSessions(maxSessions)
                    .withIsolation(isolation)
                    .withLimits(contextTokens, outputTokens)
                    .withWorkDir(dataDir.toAbsolutePath().resolve("opencode"))
                    .withSessionTimeout(Duration.ofSeconds(deadlineSeconds));
            try (OpenCodeStage stage = OpenCodeStage.start(
                    kafka,
                    OpenCodeTopics.of(topics, topicPrefix),
                    PARTITIONS,
                    null,
                    GatewayConfig.forModel(model).withMaxInflight(maxInflight),
                    EngineEndpoint.parse(engineUrl),
                    engineConfig,
                    settings)) {
                Map<String, String> options = new HashMap<>();
                if (workspace != null) {
                    options.put(OpenCodeWorker.WORKSPACE_OPTION, workspace);
                }
                if (noWarmUp) {
                    options.put(OpenCodeWorker.WARM_UP_OPTION, "false");
                }
                BatchSpec spec = BatchSpec.newBuilder()
                        .setBatchId(id)
                        .setModel(model)
                        .setTaskTemplate(template)
                        .setExpectedJobs(inputsJson.size())
                        .setDeadlineMs(deadlineSeconds * 1000)
                        .setOptions(options)
                        .build();
                BatchClient client = new BatchClient(kafka, topics);
                Set<String> finished = client.finalResults(id).values().stream()
                        .filter(r -> r.getStatus() == JobStatus.SUCCEEDED)
                        .map(AgentResult::getJobId)
                        .collect(Collectors.toSet());
                long started = System.nanoTime();
                List<String> jobIds = stage.client().submit(spec, inputsJson, finished);
                List<AgentResult> results;
                try {
                    results = client.await(
                            jobIds,
                            result -> System.out.printf("%s %s%n", result.getJobId(), result.getStatus()),
                            Duration.ofHours(24));
                } catch (TimeoutException e) {
                    System.err.println("batchagent: " + e.getMessage());
                    return 2;
                }
                // OpenCode runs every tool call it makes itself, inside its session.
                long toolCalls = results.stream()
                        .mapToLong(AgentResult::getToolCallsRequested)
                        .sum();
                BatchSummary summary = new BatchSummary(
                        id, results, Duration.ofNanos(System.nanoTime() - started), toolCalls, finished.size());
                System.out.println(summary.describe());
                GatewayStats gateway = stage.gateway().stats();
                PrefixReport sharing = stage.gateway().prefixSharing(id);
                System.out.printf(
                        "gateway: %d model calls, peak %d of %d in flight; prefill %,d tokens; sessions' first prompts "
                                + "%.1f%% shared (~%,d of %,d tokens); isolation %s%n",
                        gateway.modelCalls(),
                        gateway.peakInFlight(),
                        gateway.maxInflight(),
                        gateway.prefillTokens(),
                        100 * sharing.sharedFraction(),
                        sharing.estimatedCommonPrefixTokens(),
                        Math.round(sharing.meanPromptTokens()),
                        stage.runtime().isolation());
                if (output != null) {
                    try (BufferedWriter writer = Files.newBufferedWriter(output, StandardCharsets.UTF_8)) {
                        for (AgentResult result : results) {
                            writer.write(ResultJson.toJson(result));
                            writer.newLine();
                        }
                    }
                }
                return summary.failed() == 0 ? 0 : 1;
            }
        } finally {
            if (simulator != null) {
                simulator.close();
            }
            if (broker != null) {
                broker.close();
            }
        }
    }
}
