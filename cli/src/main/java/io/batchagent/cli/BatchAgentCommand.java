package io.batchagent.cli;

import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.client.CompactionSettings;
import io.batchagent.events.AgentResult;
import io.batchagent.events.CompactionPolicy;
import io.batchagent.events.JobStatus;
import io.batchagent.events.ToolSpec;
import io.batchagent.inference.FlowControl;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.inference.SchedulingPolicy;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.EngineSimulatorMain;
import io.batchagent.tools.ToolDeclarations;
import io.batchagent.tools.ToolWorkerConfig;
import io.batchagent.tools.mcp.McpServerConfig;
import io.batchagent.tools.redis.RedisSettings;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The {@code batchagent} command line.
 *
 * <p>Exit codes are the same for every command: {@link #EXIT_OK}, {@link #EXIT_JOBS_FAILED},
 * {@link #EXIT_USAGE} (a user error: one line names the option, file, line or key and what to do),
 * {@link #EXIT_STALLED} and {@link #EXIT_ERROR} (a fault that is not the user's; its stack trace
 * with {@code --verbose}).
 */
@Command(
        name = "batchagent",
        mixinStandardHelpOptions = true,
        version = "batchagent 0.1.0",
        description = "Runs many sibling tool-using LLM agents against one shared inference engine, on Kafka.",
        subcommands = {
            BatchAgentCommand.Run.class,
            SubmitCommand.class,
            ResultsCommand.class,
            StatusCommand.class,
            BatchAgentCommand.Cancel.class,
            BatchAgentCommand.Worker.class,
            BrokerCommand.class,
            OpenCodeCommand.class
        },
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            "0:success (run: every job succeeded)",
            "1:run: some jobs failed or were cancelled; their results are written",
            "2:bad input: one line names the option, file, line or key and what to do",
            "3:run: stalled, no job progressed for --stall-timeout; finished results are kept, a rerun resumes",
            "4:an error that is not the input's (broker, engine, disk); --verbose shows its stack trace"
        })
public final class BatchAgentCommand implements Runnable {

    /** Environment variable holding the engine API key; a key is never taken from the command line. */
    public static final String API_KEY_ENV = "BATCHAGENT_API_KEY";

    /** Every job succeeded (or, for other commands, the command did what it was asked). */
    public static final int EXIT_OK = 0;
    /** The batch finished and some jobs failed or were cancelled. */
    public static final int EXIT_JOBS_FAILED = 1;
    /** A user error: bad option, file, line or key. */
    public static final int EXIT_USAGE = 2;
    /** No job progressed for the stall timeout; finished results are kept. */
    public static final int EXIT_STALLED = 3;
    /** A fault that is not the user's: broker, engine, disk, or a bug. */
    public static final int EXIT_ERROR = 4;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(
            names = "--verbose",
            scope = CommandLine.ScopeType.INHERIT,
            description = "Print the stack trace of an error, not only its one-line message.")
    boolean verbose;

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /**
     * The command line as {@link #main} runs it: every subcommand ({@code simulator} is the engine
     * simulator's own command, so its options and {@code --help} are its own), and errors reported
     * as one line with the exit codes above.
     */
    public static CommandLine commandLine() {
        CommandLine commandLine = new CommandLine(new BatchAgentCommand());
        CommandLine simulator = new CommandLine(new EngineSimulatorMain());
        simulator.getCommandSpec().name("simulator");
        commandLine.addSubcommand("simulator", simulator);
        CliErrors errors = new CliErrors();
        commandLine.setParameterExceptionHandler(errors);
        commandLine.setExecutionExceptionHandler(errors);
        return commandLine;
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getErr());
    }

    /** The API key for {@code backend}: $BATCHAGENT_API_KEY, else the provider's usual variable. */
    static String apiKey(String backend) {
        String key = System.getenv(API_KEY_ENV);
        if (key != null && !key.isBlank()) {
            return key;
        }
        String b = backend.toLowerCase(java.util.Locale.ROOT);
        return b.startsWith("openai://")
                ? System.getenv("OPENAI_API_KEY")
                : b.startsWith("anthropic://") ? System.getenv("ANTHROPIC_API_KEY") : null;
    }

    /** Tool-worker options shared by {@code run} and {@code worker}. */
    static final class ToolWorkerOptions {
        @Option(
                names = "--redis-url",
                paramLabel = "URL",
                description =
                        "Redis for the shared tool cache and cross-worker limits (default: $BATCHAGENT_REDIS_URL; none: in-process cache).")
        String redisUrl = System.getenv("BATCHAGENT_REDIS_URL");

        @Option(
                names = "--redis-key-prefix",
                paramLabel = "PREFIX",
                defaultValue = "batchagent:",
                description = "Prefix of every Redis key (default: ${DEFAULT-VALUE}).")
        String redisKeyPrefix = "batchagent:";

        @Option(
                names = "--mcp-server",
                paramLabel = "NAME=URL|NAME=COMMAND ARGS",
                description = "An MCP server whose tools a batch may declare (stdio command or streamable HTTP URL).")
        List<String> mcpServers = new ArrayList<>();

        @Option(
                names = "--http-tool-host",
                paramLabel = "HOST",
                description = "A host that batch-declared HTTP tools may call (none by default).")
        java.util.Set<String> httpToolHosts = new java.util.HashSet<>();

        ToolWorkerConfig toConfig() {
            ToolWorkerConfig config = ToolWorkerConfig.defaults()
                    .withMcpServers(
                            mcpServers.stream().map(McpServerConfig::parse).toList())
                    .withHttpToolHosts(httpToolHosts);
            return redisUrl == null || redisUrl.isBlank()
                    ? config
                    : config.withRedis(RedisSettings.of(redisUrl).withKeyPrefix(redisKeyPrefix));
        }
    }

    @Command(
            name = "run",
            mixinStandardHelpOptions = true,
            sortOptions = false,
            abbreviateSynopsis = true,
            description = {
                "Run a whole batch in this JVM (embedded Kafka unless --bootstrap-servers is given), print each "
                        + "result as it finishes, progress on stderr, then a summary.",
                "The batch is a directory (--batch), one YAML or JSON file (--spec), or single options; options "
                        + "given here win over both. Rerunning the same batch resumes it."
            },
            exitCodeListHeading = "%nExit codes:%n",
            exitCodeList = {
                "0:every job succeeded",
                "1:some jobs failed or were cancelled; their results are written",
                "2:bad input: one line names the option, file, line or key and what to do",
                "3:stalled: no job progressed for --stall-timeout; finished results are kept, a rerun resumes",
                "4:an error that is not the input's (broker, engine, disk); --verbose shows its stack trace"
            })
    static final class Run implements java.util.concurrent.Callable<Integer> {

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @ArgGroup(validate = false, heading = "%nBatch:%n", order = 1)
        BatchOptions batch = new BatchOptions();

        @ArgGroup(validate = false, heading = "%nEngine:%n", order = 2)
        EngineOptions engine = new EngineOptions();

        @ArgGroup(validate = false, heading = "%nLimits:%n", order = 3)
        LimitOptions limits = new LimitOptions();

        @ArgGroup(validate = false, heading = "%nKafka:%n", order = 4)
        KafkaOptions kafka = new KafkaOptions();

        @ArgGroup(validate = false, heading = "%nTools:%n", order = 5)
        ToolOptions tools = new ToolOptions();

        @ArgGroup(validate = false, heading = "%nOutput:%n", order = 6)
        OutputOptions output = new OutputOptions();

        static final class BatchOptions {
            @Option(
                    names = "--spec",
                    paramLabel = "FILE",
                    description =
                            "The whole batch in one YAML or JSON file: task, system_prompt, inputs (a list or a JSONL path), tools, output_schema, model, backend, max_inflight, max_turns, ... (see README).")
            Path specFile;

            @Option(
                    names = "--batch",
                    paramLabel = "DIR",
                    description =
                            "A batch directory holding task.txt and inputs.jsonl, and optionally system.txt, tools.json, schema.json.")
            Path batchDir;

            @Option(
                    names = "--task",
                    paramLabel = "FILE",
                    description = "Task template: the per-job message, with {variable} placeholders.")
            Path task;

            @Option(names = "--system", paramLabel = "FILE", description = "Shared system prompt.")
            Path system;

            @Option(names = "--inputs", paramLabel = "FILE", description = "Inputs, one JSON object per line (JSONL).")
            Path inputs;

            @Option(names = "--tools", paramLabel = "FILE", description = "Tool declarations (JSON array).")
            Path tools;

            @Option(names = "--output-schema", paramLabel = "FILE", description = "JSON Schema of each final answer.")
            Path outputSchema;

            @Option(
                    names = "--batch-id",
                    paramLabel = "ID",
                    description = "Batch id (default: derived from the batch's content, so a rerun resumes).")
            String batchId;

            @Option(
                    names = "--retry-failed",
                    description = "Rerun jobs whose earlier result is FAILED or CANCELLED (with the same batch id).")
            boolean retryFailed;
        }

        static final class EngineOptions {
            @Option(
                    names = "--backend",
                    defaultValue = "sim://",
                    paramLabel = "URL",
                    description =
                            "Engine URL: sim://[profile] (default; profiles: instant, h100-qwen2.5-32b), sglang://host:port, vllm://host:port, dynamo://host:port, openai-compatible://host:port, openai://, anthropic://, bedrock://region, or an http(s) base URL. API key from $"
                                    + API_KEY_ENV
                                    + " (or $OPENAI_API_KEY / $ANTHROPIC_API_KEY; Bedrock uses the AWS credential chain).")
            String backend = "sim://";

            @Option(
                    names = "--model",
                    defaultValue = "sim-model",
                    paramLabel = "NAME",
                    description = "Model name sent to the engine (default: ${DEFAULT-VALUE}).")
            String model = "sim-model";

            @Option(
                    names = "--sim-tool-rule",
                    paramLabel = "RULE",
                    description =
                            "Tool-call rule of the simulator's scripted model, e.g. 'sim_search.query=Topic: (.*)'.")
            String simToolRule;
        }

        static final class LimitOptions {
            int maxInflight = 32;
            boolean fixedInflight;

            @Option(
                    names = "--engine-outage-budget",
                    defaultValue = "10m",
                    paramLabel = "DURATION",
                    converter = DurationConverter.class,
                    description =
                            "While the engine is down or failing every call, turns wait and are sent again when it answers; a job fails ENGINE_UNAVAILABLE only after an outage this long (default: ${DEFAULT-VALUE}).")
            Duration outageBudget = FlowControl.DEFAULT_OUTAGE_BUDGET;

            @Option(
                    names = "--engine-timeout",
                    defaultValue = "10m",
                    paramLabel = "DURATION",
                    converter = DurationConverter.class,
                    description =
                            "Longest one model call attempt may take; a hang past it counts as an engine failure (default: ${DEFAULT-VALUE}).")
            Duration engineTimeout = InferenceWorkerConfig.DEFAULT_ENGINE_TIMEOUT;

            @Option(
                    names = "--max-inflight",
                    paramLabel = "N|fixed:N",
                    defaultValue = "32",
                    description =
                            "Model calls in flight at most: the ceiling of an adaptive limit that follows the engine's queue, KV usage, throttling and time to first token, with new agents admitted only while the engine's KV pool holds their contexts; fixed:N keeps exactly N and admits every agent (default: ${DEFAULT-VALUE}).")
            void maxInflight(String value) {
                MaxInflight parsed = parseMaxInflight(value);
                maxInflight = parsed.ceiling();
                fixedInflight = parsed.fixed();
            }

            @Option(
                    names = "--scheduling",
                    defaultValue = "continuing-first",
                    paramLabel = "POLICY",
                    converter = SchedulingConverter.class,
                    description = SCHEDULING_HELP)
            SchedulingPolicy scheduling = SchedulingPolicy.DEFAULT;

            FlowControl flowControl() {
                return FlowControl.defaults()
                        .withOutageBudget(outageBudget)
                        .withAdaptive(!fixedInflight)
                        .withScheduling(scheduling);
            }

            @ArgGroup(validate = false)
            JobLimitOptions job = new JobLimitOptions();

            @Option(
                    names = "--stall-timeout",
                    defaultValue = "10m",
                    paramLabel = "DURATION",
                    converter = DurationConverter.class,
                    description =
                            "Give up when no job has progressed (no turn, tool answer or result) for this long: say which jobs are unfinished and exit 3, keeping every finished result (default: ${DEFAULT-VALUE}; e.g. 90s, 30m, 2h; 0: never).")
            Duration stallTimeout = Duration.ofMinutes(10);
        }

        /** The limits a batch's spec carries, for every agent of it: {@code run} and {@code submit}. */
        static final class JobLimitOptions {
            @Option(
                    names = "--max-turns",
                    paramLabel = "N",
                    defaultValue = "4",
                    description = "Model calls per agent at most (default: ${DEFAULT-VALUE}).")
            int maxTurns = 4;

            @Option(
                    names = "--max-tokens",
                    paramLabel = "N",
                    defaultValue = "1024",
                    description = "Completion tokens per model call at most (default: ${DEFAULT-VALUE}).")
            int maxTokens = 1024;

            @Option(
                    names = "--max-repairs",
                    paramLabel = "N",
                    defaultValue = "2",
                    description =
                            "Repair turns for an answer that fails the output schema; the model is told the exact errors (default: ${DEFAULT-VALUE}).")
            int maxRepairs = 2;

            @Option(
                    names = "--context-tokens",
                    paramLabel = "N",
                    defaultValue = "0",
                    description =
                            "The model's context window: a job whose prompt cannot fit fails OVERSIZED before any engine call (0: unknown).")
            int contextTokens;

            @Option(
                    names = "--deadline",
                    defaultValue = "0",
                    paramLabel = "SECONDS",
                    description = "Per-agent deadline across all turns (0: none).")
            long deadlineSeconds;

            @Option(
                    names = "--compaction",
                    paramLabel = "MODE",
                    description =
                            "Keep long conversations under their budgets: none (default), truncate (old tool results cut to a few characters with a marker) or summarize (replaced by one summary from the model, falling back to truncate). Runs when the next prompt passes 0.6 of --context-tokens or the conversation half its byte budget; the last turns are kept.")
            String compaction;

            @Option(
                    names = "--compaction-keep-turns",
                    paramLabel = "N",
                    description = "Most recent tool turns never compacted (default: 2).")
            Integer compactionKeepTurns;

            @Option(
                    names = "--compaction-truncate-chars",
                    paramLabel = "N",
                    description = "Characters of an old tool result that truncation keeps (default: 200).")
            Integer compactionTruncateChars;

            @Option(
                    names = "--max-conversation-bytes",
                    paramLabel = "N",
                    description =
                            "Per-job conversation budget in bytes; a job still over it after compaction fails CONTEXT_EXHAUSTED (default: the record budget).")
            Long maxConversationBytes;
        }

        static final class KafkaOptions {
            @Option(
                    names = "--bootstrap-servers",
                    paramLabel = "HOST:PORT[,...]",
                    description =
                            "Use this Kafka cluster instead of an embedded broker: submit there and read the results its workers write; no stage runs here unless --with-workers.")
            String bootstrapServers;

            @Option(
                    names = "--with-workers",
                    description =
                            "With --bootstrap-servers, also run every stage in this process (a one-process cluster run).")
            boolean withWorkers;

            @Option(
                    names = "--data-dir",
                    defaultValue = "data",
                    paramLabel = "DIR",
                    description =
                            "Embedded broker and state directory (default: ${DEFAULT-VALUE}); rerunning a batch over it resumes.")
            Path dataDir = Path.of("data");

            @Option(
                    names = "--topic-prefix",
                    defaultValue = "",
                    paramLabel = "PREFIX",
                    description = "Prefix of every topic name.")
            String topicPrefix = "";

            @Option(
                    names = "--kafka",
                    paramLabel = "KEY=VALUE",
                    description = "Extra Kafka client setting for every stage.")
            Map<String, String> properties = new HashMap<>();
        }

        static final class ToolOptions {
            @Option(
                    names = "--tool-option",
                    paramLabel = "KEY=VALUE",
                    description = "Option for built-in tools, e.g. sim_search.latency.ms=400.")
            Map<String, String> toolOptions = new LinkedHashMap<>();

            @ArgGroup(exclusive = false)
            ToolWorkerOptions workers = new ToolWorkerOptions();
        }

        static final class OutputOptions {
            @Option(
                    names = "--output",
                    paramLabel = "FILE",
                    description =
                            "Write each result as a JSON line to FILE as it arrives (the file is rewritten from the results topic on every run, so a rerun never duplicates a line).")
            Path output;

            @Option(
                    names = "--progress",
                    defaultValue = "auto",
                    paramLabel = "MODE",
                    converter = ProgressModeConverter.class,
                    description =
                            "auto (a live bar when stderr is a terminal, else a line every 5 s), bar, plain or none (default: ${DEFAULT-VALUE}).")
            ProgressDisplay.Mode progress = ProgressDisplay.Mode.AUTO;

            @Option(names = "--quiet", description = "Print only the summary.")
            boolean quiet;

            @Option(
                    names = "--metrics-port",
                    paramLabel = "PORT",
                    description =
                            "Serve the stages' /metrics (Prometheus), /health and /ready on this port while the batch runs (0: a free one; needs stages here: no --bootstrap-servers, or --with-workers).")
            Integer metricsPort;
        }

        @Override
        public Integer call() throws IOException {
            BatchSpecFile file = batch.specFile == null ? null : BatchSpecFile.read(batch.specFile);
            BatchDefinition definition = definition(file);
            BatchRunner.Settings settings = settings(file);
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            BatchProgress progress = new BatchProgress(System::nanoTime, System.currentTimeMillis());
            RunObserver observer = new RunObserver(progress, output.output, output.quiet ? null : out);
            ProgressDisplay display = ProgressDisplay.start(
                    progress,
                    output.quiet ? ProgressDisplay.Mode.NONE : output.progress,
                    err,
                    limits.stallTimeout,
                    observer::stall);
            observer.display = display;
            try {
                BatchSummary summary = BatchRunner.run(settings, definition, observer);
                display.close();
                out.println(summary.describe());
                if (output.output != null) {
                    out.println("results written to " + output.output);
                }
                return summary.failed() == 0 ? EXIT_OK : EXIT_JOBS_FAILED;
            } catch (BatchRunner.StoppedException e) {
                display.close();
                progress.stallReport(limits.stallTimeout).forEach(line -> err.println("batchagent run: " + line));
                if (output.output != null) {
                    err.println(
                            "batchagent run: the " + observer.written() + " results so far are in " + output.output);
                }
                return EXIT_STALLED;
            } catch (TimeoutException e) {
                display.close();
                err.println("batchagent run: " + e.getMessage());
                return EXIT_STALLED;
            } finally {
                display.close();
                observer.close();
            }
        }

        /** The settings: an option given on the command line, else the spec file's value, else the default. */
        private BatchRunner.Settings settings(BatchSpecFile file) {
            Map<String, String> toolOptions = new LinkedHashMap<>();
            if (file != null && file.toolOptions() != null) {
                toolOptions.putAll(file.toolOptions());
            }
            toolOptions.putAll(tools.toolOptions);
            String backend = pick("--backend", engine.backend, file == null ? null : file.backend());
            return new BatchRunner.Settings(
                    kafka.bootstrapServers,
                    kafka.dataDir,
                    backend,
                    apiKey(backend),
                    engine.simToolRule,
                    pick("--batch-id", batch.batchId, file == null ? null : file.batchId()),
                    pick("--max-inflight", limits.maxInflight, file == null ? null : file.maxInflight()),
                    toolOptions,
                    kafka.topicPrefix,
                    null,
                    batch.retryFailed,
                    tools.workers.toConfig(),
                    kafka.properties,
                    kafka.withWorkers,
                    output.metricsPort,
                    limits.flowControl(),
                    limits.engineTimeout);
        }

        private BatchDefinition definition(BatchSpecFile file) throws IOException {
            return definition(spec.commandLine(), batch, engine.model, limits.job, file);
        }

        /**
         * The batch a command line describes: {@code --batch} directory, {@code --spec} file or single
         * options, an option given on the command line winning over the file.
         */
        static BatchDefinition definition(
                CommandLine commandLine, BatchOptions batch, String model, JobLimitOptions limits, BatchSpecFile file)
                throws IOException {
            if (file != null && batch.batchDir != null) {
                throw new CommandLine.ParameterException(
                        commandLine, "--spec and --batch both describe a whole batch: give one of them");
            }
            String task = batch.task != null
                    ? read(batch.task)
                    : file != null ? file.task() : read(inBatchDir(commandLine, batch, "task.txt", true));
            List<String> inputs = batch.inputs != null
                    ? BatchDefinition.readInputs(batch.inputs)
                    : file != null
                            ? file.inputs()
                            : BatchDefinition.readInputs(inBatchDir(commandLine, batch, "inputs.jsonl", true));
            String system = batch.system != null
                    ? read(batch.system)
                    : file != null ? file.systemPrompt() : read(inBatchDir(commandLine, batch, "system.txt", false));
            List<ToolSpec> toolSpecs = batch.tools != null
                    ? ToolDeclarations.read(batch.tools)
                    : file != null ? file.tools() : readTools(inBatchDir(commandLine, batch, "tools.json", false));
            String schema = batch.outputSchema != null
                    ? BatchDefinition.readSchema(batch.outputSchema)
                    : file != null
                            ? file.outputSchemaJson()
                            : readSchema(inBatchDir(commandLine, batch, "schema.json", false));
            return new BatchDefinition(
                    system == null ? "" : system,
                    task,
                    inputs,
                    toolSpecs == null ? List.of() : toolSpecs,
                    schema,
                    pick(commandLine, "--model", model, file == null ? null : file.model()),
                    pick(commandLine, "--max-turns", limits.maxTurns, file == null ? null : file.maxTurns()),
                    pick(commandLine, "--max-tokens", limits.maxTokens, file == null ? null : file.maxTokens()),
                    pick(
                            commandLine,
                            "--context-tokens",
                            limits.contextTokens,
                            file == null ? null : file.contextTokens()),
                    1000
                            * pick(
                                    commandLine,
                                    "--deadline",
                                    limits.deadlineSeconds,
                                    file == null ? null : file.deadlineSeconds()),
                    pick(commandLine, "--max-repairs", limits.maxRepairs, file == null ? null : file.maxRepairs()),
                    compaction(commandLine, limits, file));
        }

        /** The compaction options when any is given on the command line, else the spec file's, else none. */
        private static CompactionPolicy compaction(
                CommandLine commandLine, JobLimitOptions limits, BatchSpecFile file) {
            CompactionPolicy options;
            try {
                options = CompactionSettings.of(
                        limits.compaction,
                        limits.compactionKeepTurns,
                        limits.compactionTruncateChars,
                        limits.maxConversationBytes);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(commandLine, e.getMessage());
            }
            return options != null || file == null ? options : file.compaction();
        }

        private <T> T pick(String option, T optionValue, T fileValue) {
            return pick(spec.commandLine(), option, optionValue, fileValue);
        }

        /** The option's value when given on the command line or when the spec file is silent, else the file's. */
        static <T> T pick(CommandLine commandLine, String option, T optionValue, T fileValue) {
            return fileValue == null || commandLine.getParseResult().hasMatchedOption(option) ? optionValue : fileValue;
        }

        private static String read(Path file) throws IOException {
            return file == null
                    ? null
                    : Files.readString(file, StandardCharsets.UTF_8).strip();
        }

        private static List<ToolSpec> readTools(Path file) throws IOException {
            return file == null ? null : ToolDeclarations.read(file);
        }

        private static String readSchema(Path file) throws IOException {
            return file == null ? null : BatchDefinition.readSchema(file);
        }

        private static Path inBatchDir(CommandLine commandLine, BatchOptions batch, String name, boolean required) {
            if (batch.batchDir != null && Files.exists(batch.batchDir.resolve(name))) {
                return batch.batchDir.resolve(name);
            }
            if (required) {
                throw new CommandLine.ParameterException(
                        commandLine,
                        batch.batchDir == null
                                ? "no batch given: use --batch DIR, --spec FILE, or --task and --inputs"
                                : "missing " + batch.batchDir.resolve(name)
                                        + ": add it to the batch directory, or give the matching option");
            }
            return null;
        }

        /** The batch definition a command line describes, without running it (for tests). */
        BatchDefinition definitionForTest() throws IOException {
            return definition(batch.specFile == null ? null : BatchSpecFile.read(batch.specFile));
        }
    }

    /**
     * What {@code run} does as the batch runs: writes each result to the output file and stdout,
     * feeds the progress, and follows the batch's activity from just before submission until every
     * job has its result or the batch stalls.
     */
    private static final class RunObserver implements BatchRunner.Observer, AutoCloseable {
        private final BatchProgress progress;
        private final Path outputPath;
        private final PrintWriter out;
        private volatile ProgressDisplay display;
        private volatile ResultsFile file;
        private volatile BatchActivity activity;
        private volatile boolean stalled;

        RunObserver(BatchProgress progress, Path outputPath, PrintWriter out) {
            this.progress = progress;
            this.outputPath = outputPath;
            this.out = out;
        }

        @Override
        public void submitting(BatchClient client) {
            activity = BatchActivity.follow(client, progress);
        }

        @Override
        public void submitted(BatchClient.Submission submission) {
            progress.submitted(submission);
            if (outputPath != null) {
                try {
                    file = ResultsFile.create(outputPath);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot write " + outputPath + ": " + e.getMessage(), e);
                }
            }
        }

        @Override
        public void result(AgentResult result) {
            if (file != null) {
                file.write(result);
            }
            progress.result(result);
            BatchProgress.Snapshot now = progress.snapshot();
            if (out != null) {
                display.println(out, String.format("[%d/%d] %s", now.done(), now.total(), describe(result)));
            }
            if (now.done() == now.total()) {
                stopFollowing(); // before the run closes the broker under it
            }
        }

        /** The batch stalled: stop following it and give it up. */
        void stall() {
            stalled = true;
            stopFollowing();
        }

        @Override
        public boolean giveUp() {
            return stalled;
        }

        int written() {
            return file == null ? 0 : file.written();
        }

        void stopFollowing() {
            BatchActivity following = activity;
            if (following != null) {
                following.close();
            }
        }

        @Override
        public void close() throws IOException {
            stopFollowing();
            if (file != null) {
                file.close();
            }
        }

        private static String describe(AgentResult result) {
            String detail = result.getStatus() == JobStatus.SUCCEEDED
                    ? result.getOutputJson()
                    : result.getError().getReason() + ": " + result.getError().getMessage();
            return String.format("%s %s turns=%d %s", result.getJobId(), result.getStatus(), result.getTurns(), detail);
        }
    }

    /** Reads {@code 90s}, {@code 10m}, {@code 2h}, {@code 500ms}, a number of seconds, or an ISO-8601 duration. */
    /** {@link SchedulingPolicy#parse}, as picocli's own error for a bad value. */
    static final class SchedulingConverter implements picocli.CommandLine.ITypeConverter<SchedulingPolicy> {
        @Override
        public SchedulingPolicy convert(String value) {
            try {
                return SchedulingPolicy.parse(value);
            } catch (IllegalArgumentException e) {
                throw new picocli.CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** The help of --scheduling, on run and on worker. */
    static final String SCHEDULING_HELP =
            "Which waiting turn starts next when a model-call slot frees, and which the engine is asked to run first: continuing-first (agents past their first turn before new ones: lowest per-agent latency and KV residency), new-first (every agent started as early as possible), least-remaining-work (one queue, the agent with the least estimated work left first). Default: ${DEFAULT-VALUE}.";

    /** {@link MaxInflight#parse}, as picocli's own error for a bad value. */
    static MaxInflight parseMaxInflight(String value) {
        try {
            return MaxInflight.parse(value);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }

    static final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            String v = value.strip().toLowerCase(java.util.Locale.ROOT);
            try {
                if (v.startsWith("p")) {
                    return Duration.parse(value.strip());
                }
                if (v.endsWith("ms")) {
                    return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
                }
                long amount = Long.parseLong(v.replaceAll("[smh]$", ""));
                return v.endsWith("h")
                        ? Duration.ofHours(amount)
                        : v.endsWith("m") ? Duration.ofMinutes(amount) : Duration.ofSeconds(amount);
            } catch (RuntimeException e) {
                throw new CommandLine.TypeConversionException(
                        "'" + value + "' is not a duration; write e.g. 90s, 10m, 2h or 0");
            }
        }
    }

    /** Reads a progress mode, in any case. */
    static final class ProgressModeConverter implements CommandLine.ITypeConverter<ProgressDisplay.Mode> {
        @Override
        public ProgressDisplay.Mode convert(String value) {
            try {
                return ProgressDisplay.Mode.valueOf(value.strip().toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(
                        "'" + value + "' is not a progress mode; use auto, bar, plain or none");
            }
        }
    }

    @Command(
            name = "worker",
            mixinStandardHelpOptions = true,
            sortOptions = false,
            description = "Run one stage (or several) as its own process against a Kafka cluster, until stopped.")
    static final class Worker implements java.util.concurrent.Callable<Integer> {
        /** How often a running worker checks that its stages still run. */
        private static final long STAGE_CHECK_MS = 500;

        @Option(
                names = "--role",
                required = true,
                description =
                        "all, topology, job-compiler, coalescer, assembler, workflow, inference, tools, or opencode (not part of all).")
        String role;

        @Option(names = "--bootstrap-servers", required = true, description = "The Kafka cluster.")
        String bootstrapServers;

        @Option(
                names = "--backend",
                defaultValue = "sim://",
                description = "Engine URL for the inference role (sim:// starts a simulator in this process).")
        String backend;

        int maxInflight;
        boolean fixedInflight;

        @Option(
                names = "--max-inflight",
                paramLabel = "N|fixed:N",
                defaultValue = "32",
                description =
                        "Model calls in flight at most: the ceiling of an adaptive limit that follows the engine's queue, KV usage, throttling and time to first token, with new agents admitted only while the engine's KV pool holds their contexts; fixed:N keeps exactly N and admits every agent (default: ${DEFAULT-VALUE}).")
        void maxInflight(String value) {
            MaxInflight parsed = parseMaxInflight(value);
            maxInflight = parsed.ceiling();
            fixedInflight = parsed.fixed();
        }

        @Option(
                names = "--scheduling",
                defaultValue = "continuing-first",
                paramLabel = "POLICY",
                converter = SchedulingConverter.class,
                description = SCHEDULING_HELP)
        SchedulingPolicy scheduling = SchedulingPolicy.DEFAULT;

        @Option(
                names = "--engine-outage-budget",
                defaultValue = "10m",
                paramLabel = "DURATION",
                converter = DurationConverter.class,
                description =
                        "While the engine is down or failing every call, turns wait and are sent again when it answers; a job fails ENGINE_UNAVAILABLE only after an outage this long (default: ${DEFAULT-VALUE}).")
        Duration outageBudget;

        @Option(
                names = "--engine-timeout",
                defaultValue = "10m",
                paramLabel = "DURATION",
                converter = DurationConverter.class,
                description =
                        "Longest one model call attempt may take; a hang past it counts as an engine failure (default: ${DEFAULT-VALUE}).")
        Duration engineTimeout;

        @Option(
                names = "--partitions",
                defaultValue = "4",
                description = "Partitions of topics this process creates (default: ${DEFAULT-VALUE}).")
        int partitions;

        @Option(names = "--state-dir", defaultValue = "data/streams", description = "Kafka Streams state directory.")
        Path stateDir;

        @Option(names = "--topic-prefix", defaultValue = "", description = "Prefix of every topic name.")
        String topicPrefix;

        @Option(
                names = "--schema-registry-url",
                description = "Confluent-compatible Schema Registry (default: embedded fingerprint ids).")
        String schemaRegistryUrl;

        @Option(names = "--tool-option", paramLabel = "KEY=VALUE", description = "Option for built-in tools.")
        Map<String, String> toolOptions = new HashMap<>();

        @Option(
                names = "--kafka",
                paramLabel = "KEY=VALUE",
                description = "Extra Kafka client setting for every stage, e.g. session.timeout.ms=10000.")
        Map<String, String> kafkaProperties = new HashMap<>();

        @Option(
                names = "--processing-guarantee",
                defaultValue = "exactly_once_v2",
                paramLabel = "exactly_once_v2|at_least_once",
                description =
                        "The Kafka Streams stages' processing guarantee (default: ${DEFAULT-VALUE}). at_least_once "
                                + "is for measurement: it drops the transactions of the job compiler, coalescer, "
                                + "assembler and workflow, and a stage that crashes may then dispatch a tool call or "
                                + "start a turn's model call a second time (a cacheable call still runs once, under "
                                + "its claim in the result cache).")
        void processingGuarantee(String value) {
            switch (value) {
                case "exactly_once_v2" -> exactlyOnce = true;
                case "at_least_once" -> exactlyOnce = false;
                default ->
                    throw new CommandLine.TypeConversionException(
                            "'" + value + "' is not a processing guarantee: use exactly_once_v2 or at_least_once");
            }
        }

        boolean exactlyOnce = true;

        @CommandLine.ArgGroup(exclusive = false, heading = "Tool workers:%n")
        ToolWorkerOptions toolWorker = new ToolWorkerOptions();

        @Option(
                names = "--model",
                defaultValue = "sim-model",
                description = "Model name, for the opencode role (default: ${DEFAULT-VALUE}).")
        String model;

        @Option(
                names = "--max-sessions",
                defaultValue = "4",
                description = "OpenCode sessions at once, for the opencode role (default: ${DEFAULT-VALUE}).")
        int maxSessions;

        @Option(
                names = "--metrics-port",
                paramLabel = "PORT",
                description =
                        "Serve /metrics (Prometheus), /health and /ready on this port (0: a free one; default: not served).")
        Integer metricsPort;

        /** {@code --role opencode}: a gateway, an OpenCode runtime and an OpenCode worker, until stopped. */
        private int runOpenCode() throws InterruptedException {
            EngineSimulator simulator = BatchRunner.startSimulator(new BatchRunner.Settings(
                    null, stateDir, backend, null, null, null, maxInflight, Map.of(), topicPrefix, null));
            String engineUrl = simulator != null ? BatchRunner.engineUrl(simulator) : backend;
            Map<String, Object> kafka = new HashMap<>(kafkaProperties);
            kafka.put("bootstrap.servers", bootstrapServers);
            Map<String, String> serde =
                    schemaRegistryUrl == null ? Map.of() : Map.of("schema.registry.url", schemaRegistryUrl);
            io.batchagent.schemas.Topics topics = io.batchagent.schemas.Topics.create(topicPrefix, serde);
            try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(kafka)) {
                io.batchagent.schemas.TopicProvisioner.ensure(admin, topics, partitions, (short) -1);
            }
            io.batchagent.opencode.OpenCodeStage stage = io.batchagent.opencode.OpenCodeStage.start(
                    kafka,
                    io.batchagent.opencode.OpenCodeTopics.of(topics, topicPrefix),
                    partitions,
                    null,
                    io.batchagent.gateway.GatewayConfig.forModel(model).withMaxInflight(maxInflight),
                    io.batchagent.inference.EngineEndpoint.parse(engineUrl),
                    io.batchagent.inference.InferenceWorkerConfig.defaults().withEngineApiKey(apiKey(backend)),
                    io.batchagent.opencode.OpenCodeSettings.forModel(model)
                            .withMaxSessions(maxSessions)
                            .withWorkDir(stateDir.toAbsolutePath().resolve("opencode")));
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime()
                    .addShutdownHook(new Thread(
                            () -> {
                                stage.close();
                                if (simulator != null) {
                                    simulator.close();
                                }
                                stopped.countDown();
                            },
                            "shutdown"));
            System.err.println("batchagent worker running: role opencode, gateway "
                    + stage.gateway().baseUri());
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
            Runtime.getRuntime()
                    .addShutdownHook(new Thread(
                            () -> {
                                worker.close();
                                stopped.countDown();
                            },
                            "shutdown"));
            System.err.println("batchagent worker running: roles " + worker.stages()
                    + (worker.ops() == null
                            ? ""
                            : "; /metrics, /health and /ready on port "
                                    + worker.ops().port()));
            // A stage that stopped on its own does no more work here: exit non-zero so that a supervisor
            // (Kubernetes, compose, systemd) starts a fresh process, instead of idling as a zombie.
            while (!stopped.await(STAGE_CHECK_MS, TimeUnit.MILLISECONDS)) {
                Optional<String> stage = worker.pipeline() == null
                        ? Optional.empty()
                        : worker.pipeline().stoppedStage();
                if (stage.isPresent()) {
                    System.err.println("batchagent worker: a stage stopped (" + stage.get() + "); exiting");
                    return EXIT_ERROR;
                }
            }
            return 0;
        }

        /** Starts this command's stages, and its metrics and health endpoints when a port is given. */
        RunningWorker start() {
            Set<Stage> stages = Stage.parseRole(role);
            EngineSimulator simulator = null;
            String engineUrl = backend;
            if (stages.contains(Stage.INFERENCE) && backend.startsWith(BatchRunner.SIM_SCHEME)) {
                simulator = BatchRunner.startSimulator(new BatchRunner.Settings(
                        null, stateDir, backend, null, null, null, maxInflight, Map.of(), topicPrefix, null));
                engineUrl = BatchRunner.engineUrl(simulator);
            }
            Map<String, String> serde =
                    schemaRegistryUrl == null ? Map.of() : Map.of("schema.registry.url", schemaRegistryUrl);
            PipelineConfig config = PipelineConfig.defaults(bootstrapServers, engineUrl, stateDir)
                    .withKafkaProperties(kafkaProperties)
                    .withTopicPrefix(topicPrefix)
                    .withMaxInflight(maxInflight)
                    .withPartitions(partitions)
                    .withToolOptions(toolOptions)
                    .withSerdeConfig(serde)
                    .withEngine(engineUrl, apiKey(backend))
                    .withToolWorker(toolWorker.toConfig())
                    .withExactlyOnce(exactlyOnce)
                    .withFlowControl(
                            FlowControl.defaults()
                                    .withOutageBudget(outageBudget)
                                    .withAdaptive(!fixedInflight)
                                    .withScheduling(scheduling),
                            engineTimeout);
            Pipeline pipeline = null;
            try {
                pipeline = Pipeline.start(config, stages);
                ProcessOps ops = metricsPort == null
                        ? null
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

    @Command(
            name = "cancel",
            mixinStandardHelpOptions = true,
            description = "Cancel a batch on a cluster: no new turn of it starts; its unfinished jobs end CANCELLED.")
    static final class Cancel implements java.util.concurrent.Callable<Integer> {
        @Parameters(index = "0", paramLabel = "BATCH_ID", description = "The batch to cancel.")
        String batchId;

        @CommandLine.Mixin
        ClusterOptions cluster = new ClusterOptions();

        @Override
        public Integer call() {
            if (!cluster.settings().client().cancel(batchId)) {
                System.err.println("batchagent: no batch '" + batchId + "' on " + cluster.bootstrapServers);
                return 1;
            }
            System.out.println("cancelled batch " + batchId);
            return 0;
        }
    }
}
