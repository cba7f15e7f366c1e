package io.batchagent.simulator;

import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Runs the SIMULATED engine standalone until the process is killed. Prints its URL on standard
 * output once listening.
 */
@Command(
        name = "engine-simulator",
        mixinStandardHelpOptions = true,
        description = "Runs a SIMULATED OpenAI-compatible inference engine: radix prefix cache, KV capacity, "
                + "continuous batching and a scripted model. Its figures are simulated, not measured.")
public final class EngineSimulatorMain implements Callable<Integer> {

    private static final String LOGBACK_CONFIG_PROPERTY = "logback.configurationFile";
    private static final String STANDALONE_LOGBACK = "io/batchagent/simulator/logback-standalone.xml";

    @Spec
    CommandSpec spec;

    @Option(
            names = "--host",
            defaultValue = SimulatorOptions.DEFAULT_HOST,
            description = "Address to bind (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(
            names = "--port",
            defaultValue = "30000",
            description = "Port, 0 for a free one (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(
            names = "--profile",
            defaultValue = "h100-qwen2.5-32b",
            description = "Cost profile: instant or h100-qwen2.5-32b (default: ${DEFAULT-VALUE}).")
    String profile;

    @Option(
            names = "--model",
            defaultValue = SimulatorOptions.DEFAULT_MODEL_NAME,
            description = "Served model name (default: ${DEFAULT-VALUE}).")
    String model;

    @Option(
            names = "--speedup",
            defaultValue = "1",
            description = "Divide simulated step durations by this factor (default: ${DEFAULT-VALUE}).")
    double speedup;

    @Option(
            names = "--tool-rule",
            description =
                    "Tool call rule, e.g. 'web_search.query=Topic: (.*)' (default: first tool, default arguments).")
    String toolRule;

    @Option(
            names = "--fail-on-marker",
            description = "Answer HTTP 500 to requests whose last user message contains this text.")
    String failOnMarker;

    @Option(
            names = "--dialect",
            defaultValue = "sglang",
            description = "Request rules and priority polarity to imitate: sglang (higher priority first) or vllm "
                    + "(lower first, rejects stream_options without stream) (default: ${DEFAULT-VALUE}).")
    String dialect;

    @Option(
            names = "--priority-scheduling",
            negatable = true,
            defaultValue = "true",
            fallbackValue = "true",
            description = "Honour the priority field (SGLang --enable-priority-scheduling, vLLM --scheduling-policy "
                    + "priority); with --no-priority-scheduling the vllm dialect rejects non-zero priorities.")
    boolean priorityScheduling;

    @Option(
            names = "--cache-report",
            negatable = true,
            defaultValue = "true",
            fallbackValue = "true",
            description = "Report usage.prompt_tokens_details.cached_tokens (SGLang --enable-cache-report, vLLM "
                    + "--enable-prompt-tokens-details); --no-cache-report sends it as null.")
    boolean cacheReport;

    @Option(
            names = "--faults",
            paramLabel = "SPEC",
            description = "SIMULATED faults, e.g. 'error=0.2,throttle=0.05,retry-after=1,hang=0.05,hang-ms=30000,"
                    + "malformed=0.02,seed=7' or 'down=true'; change them while running with POST /admin/faults.")
    String faults;

    @Option(
            names = "--vary-answers",
            paramLabel = "SEED",
            description = "Make the scripted model vary per call (seeded): a second tool call on about half the "
                    + "calls after the first tool result, and a random part in every answer.")
    Long varyAnswers;

    @Option(
            names = "--tool-turns",
            paramLabel = "T",
            defaultValue = "1",
            description = "Tool turns the scripted model takes before it answers (default: ${DEFAULT-VALUE}).")
    int toolTurns = 1;

    @Option(
            names = "--context-tokens",
            paramLabel = "N",
            defaultValue = "0",
            description = "The SIMULATED context window: longer prompts get HTTP 400 with the dialect's own message "
                    + "(0: none, only the KV capacity).")
    int contextTokens;

    @Option(
            names = "--capture-requests",
            description = "Keep raw request bodies in memory (for embedding only).",
            hidden = true)
    boolean captureRequests;

    /** The options these arguments describe. */
    SimulatorOptions toOptions() {
        SimulatorOptions.Builder builder = SimulatorOptions.builder()
                .host(host)
                .port(port)
                .profile(profile)
                .modelName(model)
                .speedup(speedup)
                .captureRequests(captureRequests)
                .failOnMarker(failOnMarker)
                .dialect(dialect(dialect))
                .priorityScheduling(priorityScheduling)
                .cacheReport(cacheReport)
                .varyAnswersSeed(varyAnswers)
                .toolTurns(toolTurns)
                .contextTokens(contextTokens);
        if (faults != null) {
            builder.faults(EngineFaults.parse(faults, EngineFaults.NONE));
        }
        if (toolRule != null) {
            builder.toolCallRule(toolRule);
        }
        return builder.build();
    }

    private static SimulatorDialect dialect(String name) {
        try {
            return SimulatorDialect.valueOf(name.trim().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--dialect must be sglang or vllm, got '" + name + "'", e);
        }
    }

    @Override
    public Integer call() throws InterruptedException {
        SimulatorOptions options;
        try {
            options = toOptions();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage(), e);
        }
        EngineSimulator simulator = EngineSimulator.start(options);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            simulator.close();
                            stopped.countDown();
                        },
                        "engine-simulator-shutdown"));
        System.out.println("SIMULATED engine listening on " + simulator.baseUrl() + " (OpenAI API at "
                + simulator.baseUrl() + "/v1), profile " + options.profile() + ", speedup " + options.speedup());
        stopped.await();
        return 0;
    }

    public static void main(String[] args) {
        if (System.getProperty(LOGBACK_CONFIG_PROPERTY) == null) {
            // Keeps Netty's debug chatter out of a standalone run; a -D setting still wins.
            System.setProperty(LOGBACK_CONFIG_PROPERTY, STANDALONE_LOGBACK);
        }
        System.exit(new CommandLine(new EngineSimulatorMain()).execute(args));
    }
}
