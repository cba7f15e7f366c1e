package io.batchagent.cli;

import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import io.batchagent.events.ToolSpec;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.tools.ToolWorkerConfig;
import io.batchagent.tools.mcp.McpServerConfig;
import io.batchagent.tools.redis.RedisSettings;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The {@code batchagent} command line. */
@Command(name = "batchagent", mixinStandardHelpOptions = true, version = "batchagent 0.1.0",
        description = "Runs many sibling tool-using LLM agents against one shared inference engine, on Kafka.",
        subcommands = {BatchAgentCommand.Run.class, BatchAgentCommand.Worker.class, BatchAgentCommand.Cancel.class,
                BatchAgentCommand.Simulator.class, OpenCodeCommand.class})
public final class BatchAgentCommand implements Runnable {

    /** Environment variable holding the engine API key; a key is never taken from the command line. */
    public static final String API_KEY_ENV = "BATCHAGENT_API_KEY";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(new CommandLine(new BatchAgentCommand()).execute(args));
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.err);
    }

    /** The API key for {@code backend}: $BATCHAGENT_API_KEY, else the provider's usual variable. */
    static String apiKey(String backend) {
        String key = System.getenv(API_KEY_ENV);
        if (key != null && !key.isBlank()) {
            return key;
        }
        String b = backend.toLowerCase(java.util.Locale.ROOT);
        return b.startsWith("openai://") ? System.getenv("OPENAI_API_KEY")
                : b.startsWith("anthropic://") ? System.getenv("ANTHROPIC_API_KEY") : null;
    }


    /** Tool-worker options shared by {@code run} and {@code worker}. */
    static final class ToolWorkerOptions {
        @Option(names = "--redis-url", description = "Redis for the shared tool cache and cross-worker limits (default: $BATCHAGENT_REDIS_URL; none: in-process cache).")
        String redisUrl = System.getenv("BATCHAGENT_REDIS_URL");
        @Option(names = "--redis-key-prefix", defaultValue = "batchagent:", description = "Prefix of every Redis key (default: ${DEFAULT-VALUE}).")
        String redisKeyPrefix;
        @Option(names = "--mcp-server", paramLabel = "NAME=URL|NAME=COMMAND ARGS", description = "An MCP server whose tools a batch may declare (stdio command or streamable HTTP URL).")
        List<String> mcpServers = new ArrayList<>();
        @Option(names = "--http-tool-host", paramLabel = "HOST", description = "A host that batch-declared HTTP tools may call (none by default).")
        java.util.Set<String> httpToolHosts = new java.util.HashSet<>();

        ToolWorkerConfig toConfig() {
            ToolWorkerConfig config = ToolWorkerConfig.defaults()
                    .withMcpServers(mcpServers.stream().map(McpServerConfig::parse).toList())
                    .withHttpToolHosts(httpToolHosts);
            return redisUrl == null || redisUrl.isBlank() ? config
                    : config.withRedis(RedisSettings.of(redisUrl).withKeyPrefix(redisKeyPrefix));
        }
    }

    @Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
            description = "Run a whole batch in this JVM (embedded Kafka unless --bootstrap-servers is given) and print its results.")
    static final class Run implements java.util.concurrent.Callable<Integer> {

        @Option(names = "--batch", paramLabel = "DIR", description = "A batch directory holding task.txt and inputs.jsonl, and optionally system.txt, tools.json, schema.json. Other options override its files.")
        Path batchDir;
        @Option(names = "--task", paramLabel = "FILE", description = "Task template: the per-job message, with {variable} placeholders.")
        Path task;
        @Option(names = "--system", paramLabel = "FILE", description = "Shared system prompt.")
        Path system;
        @Option(names = "--inputs", paramLabel = "FILE", description = "Inputs, one JSON object per line (JSONL).")
        Path inputs;
        @Option(names = "--tools", paramLabel = "FILE", description = "Tool declarations (JSON array).")
        Path tools;
        @Option(names = "--output-schema", paramLabel = "FILE", description = "JSON Schema of each final answer.")
        Path outputSchema;
        @Option(names = "--backend", defaultValue = "sim://", description = "Engine URL: sim://[profile] (default; profiles: instant, h100-qwen2.5-32b), sglang://host:port, vllm://host:port, dynamo://host:port, openai-compatible://host:port, openai://, anthropic://, bedrock://region, or an http(s) base URL. API key from $" + API_KEY_ENV + " (or $OPENAI_API_KEY / $ANTHROPIC_API_KEY; Bedrock uses the AWS credential chain).")
        String backend;
        @Option(names = "--model", description = "Model name sent to the engine (default: sim-model).", defaultValue = "sim-model")
        String model;
        @Option(names = "--max-inflight", defaultValue = "32", description = "Model calls in flight at most (default: ${DEFAULT-VALUE}).")
        int maxInflight;
        @Option(names = "--max-turns", defaultValue = "4", description = "Model calls per agent at most (default: ${DEFAULT-VALUE}).")
        int maxTurns;
        @Option(names = "--max-tokens", defaultValue = "1024", description = "Completion tokens per model call at most (default: ${DEFAULT-VALUE}).")
        int maxTokens;
        @Option(names = "--output", paramLabel = "FILE", description = "Write every result as a JSON line to FILE.")
        Path output;
        @Option(names = "--bootstrap-servers", description = "Use this Kafka cluster instead of an embedded broker.")
        String bootstrapServers;
        @Option(names = "--data-dir", defaultValue = "data", description = "Embedded broker and state directory (default: ${DEFAULT-VALUE}); rerunning a batch over it resumes.")
        Path dataDir;
        @Option(names = "--batch-id", description = "Batch id (default: derived from the batch's content, so a rerun resumes).")
        String batchId;
        @Option(names = "--tool-option", paramLabel = "KEY=VALUE", description = "Option for built-in tools, e.g. sim_search.latency.ms=400.")
        Map<String, String> toolOptions = new HashMap<>();
        @Option(names = "--sim-tool-rule", description = "Tool-call rule of the simulator's scripted model, e.g. 'sim_search.query=Topic: (.*)'.")
        String simToolRule;
        @Option(names = "--topic-prefix", defaultValue = "", description = "Prefix of every topic name.")
        String topicPrefix;
        @Option(names = "--kafka", paramLabel = "KEY=VALUE", description = "Extra Kafka client setting for every stage.")
        Map<String, String> kafkaProperties = new HashMap<>();
        @Option(names = "--max-repairs", defaultValue = "2", description = "Repair turns for an answer that fails the output schema; the model is told the exact errors (default: ${DEFAULT-VALUE}).")
        int maxRepairs;
        @Option(names = "--retry-failed", description = "Rerun jobs whose earlier result is FAILED or CANCELLED (with the same batch id).")
        boolean retryFailed;
        @Option(names = "--context-tokens", defaultValue = "0", description = "The model's context window: a job whose prompt cannot fit fails OVERSIZED before any engine call (0: unknown).")
        int contextTokens;
        @Option(names = "--deadline", defaultValue = "0", paramLabel = "SECONDS", description = "Per-agent deadline across all turns (0: none).")
        long deadlineSeconds;
        @Option(names = "--quiet", description = "Print only the summary.")
        boolean quiet;
        @CommandLine.ArgGroup(exclusive = false, heading = "Tool workers:%n")
        ToolWorkerOptions toolWorker = new ToolWorkerOptions();

        @Override
        public Integer call() throws IOException {
            BatchDefinition definition = definition();
            BatchRunner.Settings settings = new BatchRunner.Settings(bootstrapServers, dataDir, backend,
                    apiKey(backend), simToolRule, batchId, maxInflight, toolOptions, topicPrefix, null, retryFailed,
                    toolWorker.toConfig(), kafkaProperties);
            PrintStream out = System.out;
            int total = definition.inputs().size();
            AtomicInteger done = new AtomicInteger();
            AtomicInteger failed = new AtomicInteger();
            long started = System.nanoTime();
            ScheduledExecutorService progress = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "progress");
                t.setDaemon(true);
                return t;
            });
            progress.scheduleAtFixedRate(() -> System.err.printf("progress: %d/%d done (%d failed), %.1f s%n",
                    done.get(), total, failed.get(), (System.nanoTime() - started) / 1e9), 2, 2, TimeUnit.SECONDS);
            BufferedWriter writer = output == null ? null : Files.newBufferedWriter(output, StandardCharsets.UTF_8);
            try {
                BatchSummary summary = BatchRunner.run(settings, definition, result -> {
                    int n = done.incrementAndGet();
                    if (result.getStatus() != JobStatus.SUCCEEDED) {
                        failed.incrementAndGet();
                    }
                    if (!quiet) {
                        out.printf("[%d/%d] %s%n", n, total, describe(result));
                    }
                });
                if (writer != null) {
                    for (AgentResult result : summary.results()) {
                        writer.write(ResultJson.toJson(result));
                        writer.newLine();
                    }
                }
                out.println(summary.describe());
                if (output != null) {
                    out.println("results written to " + output);
                }
                return summary.failed() == 0 ? 0 : 1;
            } catch (TimeoutException e) {
                System.err.println("batchagent: " + e.getMessage());
                return 2;
            } finally {
                progress.shutdownNow();
                if (writer != null) {
                    writer.close();
                }
            }
        }

        private static String describe(AgentResult result) {
            String detail = result.getStatus() == JobStatus.SUCCEEDED
                    ? result.getOutputJson()
                    : result.getError().getReason() + ": " + result.getError().getMessage();
            return String.format("%s %s turns=%d %s", result.getJobId(), result.getStatus(), result.getTurns(), detail);
        }

        private BatchDefinition definition() throws IOException {
            Path taskFile = pick(task, "task.txt", true);
            Path inputsFile = pick(inputs, "inputs.jsonl", true);
            Path systemFile = pick(system, "system.txt", false);
            Path toolsFile = pick(tools, "tools.json", false);
            Path schemaFile = pick(outputSchema, "schema.json", false);
            List<ToolSpec> toolSpecs = toolsFile == null ? List.of() : BatchDefinition.readTools(toolsFile);
            return new BatchDefinition(
                    systemFile == null ? "" : Files.readString(systemFile, StandardCharsets.UTF_8).strip(),
                    Files.readString(taskFile, StandardCharsets.UTF_8).strip(),
                    BatchDefinition.readInputs(inputsFile),
                    toolSpecs,
                    schemaFile == null ? null : BatchDefinition.readSchema(schemaFile),
                    model, maxTurns, maxTokens, contextTokens, deadlineSeconds * 1000, maxRepairs);
        }

        private Path pick(Path explicit, String nameInBatchDir, boolean required) {
            if (explicit != null) {
                return explicit;
            }
            if (batchDir != null && Files.exists(batchDir.resolve(nameInBatchDir))) {
                return batchDir.resolve(nameInBatchDir);
            }
            if (required) {
                throw new CommandLine.ParameterException(new CommandLine(this),
                        "missing " + nameInBatchDir + ": give --batch DIR holding it, or the matching option");
            }
            return null;
        }
    }

    @Command(name = "worker", mixinStandardHelpOptions = true, sortOptions = false,
            description = "Run one stage (or several) as its own process against a Kafka cluster, until stopped.")
    static final class Worker implements java.util.concurrent.Callable<Integer> {

        @Option(names = "--role", required = true, description = "all, topology, job-compiler, coalescer, assembler, workflow, inference, tools, or opencode (not part of all).")
        String role;
        @Option(names = "--bootstrap-servers", required = true, description = "The Kafka cluster.")
        String bootstrapServers;
        @Option(names = "--backend", defaultValue = "sim://", description = "Engine URL for the inference role (sim:// starts a simulator in this process).")
        String backend;
        @Option(names = "--max-inflight", defaultValue = "32", description = "Model calls in flight at most (default: ${DEFAULT-VALUE}).")
        int maxInflight;
        @Option(names = "--partitions", defaultValue = "4", description = "Partitions of topics this process creates (default: ${DEFAULT-VALUE}).")
        int partitions;
        @Option(names = "--state-dir", defaultValue = "data/streams", description = "Kafka Streams state directory.")
        Path stateDir;
        @Option(names = "--topic-prefix", defaultValue = "", description = "Prefix of every topic name.")
        String topicPrefix;
        @Option(names = "--schema-registry-url", description = "Confluent-compatible Schema Registry (default: embedded fingerprint ids).")
        String schemaRegistryUrl;
        @Option(names = "--tool-option", paramLabel = "KEY=VALUE", description = "Option for built-in tools.")
        Map<String, String> toolOptions = new HashMap<>();
        @Option(names = "--kafka", paramLabel = "KEY=VALUE", description = "Extra Kafka client setting for every stage, e.g. session.timeout.ms=10000.")
        Map<String, String> kafkaProperties = new HashMap<>();
        @CommandLine.ArgGroup(exclusive = false, heading = "Tool workers:%n")
        ToolWorkerOptions toolWorker = new ToolWorkerOptions();

        @Option(names = "--model", defaultValue = "sim-model", description = "Model name, for the opencode role (default: ${DEFAULT-VALUE}).")
        String model;
        @Option(names = "--max-sessions", defaultValue = "4", description = "OpenCode sessions at once, for the opencode role (default: ${DEFAULT-VALUE}).")
        int maxSessions;
        @Option(names = "--metrics-port", paramLabel = "PORT", description = "Serve /metrics (Prometheus), /health and /ready on this port (0: a free one; default: not served).")
        Integer metricsPort;

        /** {@code --role opencode}: a gateway, an OpenCode runtime and an OpenCode worker, until stopped. */
        private int runOpenCode() throws InterruptedException {
            EngineSimulator simulator = BatchRunner.startSimulator(new BatchRunner.Settings(null, stateDir, backend, null,
                    null, null, maxInflight, Map.of(), topicPrefix, null));
            String engineUrl = simulator != null ? BatchRunner.engineUrl(simulator) : backend;
            Map<String, Object> kafka = new HashMap<>(kafkaProperties);
            kafka.put("bootstrap.servers", bootstrapServers);
            Map<String, String> serde = schemaRegistryUrl == null ? Map.of() : Map.of("schema.registry.url", schemaRegistryUrl);
            io.batchagent.schemas.Topics topics = io.batchagent.schemas.Topics.create(topicPrefix, serde);
            try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(kafka)) {
                io.batchagent.schemas.TopicProvisioner.ensure(admin, topics, partitions, (short) -1);
            }
            io.batchagent.opencode.OpenCodeStage stage = io.batchagent.opencode.OpenCodeStage.start(kafka,
                    io.batchagent.opencode.OpenCodeTopics.of(topics, topicPrefix), partitions, null,
                    io.batchagent.gateway.GatewayConfig.forModel(model).withMaxInflight(maxInflight),
                    io.batchagent.inference.EngineEndpoint.parse(engineUrl),
                    io.batchagent.inference.InferenceWorkerConfig.defaults().withEngineApiKey(apiKey(backend)),
                    io.batchagent.opencode.OpenCodeSettings.forModel(model).withMaxSessions(maxSessions)
                            .withWorkDir(stateDir.toAbsolutePath().resolve("opencode")));
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                stage.close();
                if (simulator != null) {
                    simulator.close();
                }
                stopped.countDown();
            }, "shutdown"));
            System.err.println("batchagent worker running: role opencode, gateway " + stage.gateway().baseUri());
            stopped.await();
            return 0;
        }

        @Override
        public Integer call() throws InterruptedException {
            if (role.equalsIgnoreCase("opencode")) {
                return runOpenCode();
            }
            CountDownLatch stopped = new CountDownLatch(1);
            RunningWorker worker = start();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                worker.close();
                stopped.countDown();
            }, "shutdown"));
            System.err.println("batchagent worker running: roles " + worker.stages()
                    + (worker.ops() == null ? "" : "; /metrics, /health and /ready on port " + worker.ops().port()));
            stopped.await();
            return 0;
        }

        /** Starts this command's stages, and its metrics and health endpoints when a port is given. */
        RunningWorker start() {
            Set<Stage> stages = Stage.parseRole(role);
            EngineSimulator simulator = null;
            String engineUrl = backend;
            if (stages.contains(Stage.INFERENCE) && backend.startsWith(BatchRunner.SIM_SCHEME)) {
                simulator = BatchRunner.startSimulator(new BatchRunner.Settings(null, stateDir, backend, null, null, null,
                        maxInflight, Map.of(), topicPrefix, null));
                engineUrl = BatchRunner.engineUrl(simulator);
            }
            Map<String, String> serde = schemaRegistryUrl == null ? Map.of() : Map.of("schema.registry.url", schemaRegistryUrl);
            PipelineConfig config = PipelineConfig.defaults(bootstrapServers, engineUrl, stateDir)
                    .withKafkaProperties(kafkaProperties)
                    .withTopicPrefix(topicPrefix).withMaxInflight(maxInflight).withPartitions(partitions)
                    .withToolOptions(toolOptions).withSerdeConfig(serde).withEngine(engineUrl, apiKey(backend))
                    .withToolWorker(toolWorker.toConfig());
            Pipeline pipeline = null;
            try {
                pipeline = Pipeline.start(config, stages);
                ProcessOps ops = metricsPort == null ? null
                        : ProcessOps.start(pipeline, config, stages, new java.net.InetSocketAddress(metricsPort));
                return new RunningWorker(stages, pipeline, ops, simulator);
            } catch (RuntimeException e) {
                new RunningWorker(stages, pipeline, null, simulator).close();
                throw e;
            }
        }
    }

    /** A started {@code worker}: its stages, its endpoints (or null) and its simulator (or null); closes in that order. */
    record RunningWorker(Set<Stage> stages, Pipeline pipeline, ProcessOps ops, EngineSimulator simulator)
            implements AutoCloseable {
        @Override
        public void close() {
            if (ops != null) {
                ops.close();
            }
            if (pipeline != null) {
                pipeline.close();
            }
            if (simulator != null) {
                simulator.close();
            }
        }
    }

    @Command(name = "cancel", mixinStandardHelpOptions = true,
            description = "Cancel a batch on a cluster: no new turn of it starts; its unfinished jobs end CANCELLED.")
    static final class Cancel implements java.util.concurrent.Callable<Integer> {
        @Parameters(index = "0", paramLabel = "BATCH_ID", description = "The batch to cancel.")
        String batchId;
        @Option(names = "--bootstrap-servers", required = true, description = "The Kafka cluster the batch runs on.")
        String bootstrapServers;
        @Option(names = "--topic-prefix", defaultValue = "", description = "Prefix of every topic name.")
        String topicPrefix;

        @Override
        public Integer call() {
            BatchClient client = new BatchClient(Map.of("bootstrap.servers", bootstrapServers),
                    io.batchagent.schemas.Topics.create(topicPrefix, Map.of()));
            if (!client.cancel(batchId)) {
                System.err.println("batchagent: no batch '" + batchId + "' on " + bootstrapServers);
                return 1;
            }
            System.out.println("cancelled batch " + batchId);
            return 0;
        }
    }

    @Command(name = "simulator", description = "Run the engine simulator (SIMULATED figures) as a standalone OpenAI-compatible server.")
    static final class Simulator implements Runnable {
        @Parameters(arity = "0..*", description = "Options of the simulator; see 'batchagent simulator --help'.")
        List<String> args = new ArrayList<>();

        @Override
        public void run() {
            io.batchagent.simulator.EngineSimulatorMain.main(args.toArray(String[]::new));
        }
    }

}
