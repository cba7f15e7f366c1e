package io.batchagent.cli;

import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.client.ClusterSettings;
import io.batchagent.client.ToolActivity;
import io.batchagent.events.AgentResult;
import io.batchagent.inference.EngineAdmin;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.EngineMetrics;
import io.batchagent.inference.FlowControl;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorDialect;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.tools.ToolWorkerConfig;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What {@code batchagent run} does: runs one whole batch and returns its results. Without a cluster it
 * runs everything in this JVM (an embedded Kafka broker, the engine simulator for a {@code sim://}
 * backend, every stage); with one it is a client of the workers there, unless asked to run the stages
 * too. Running the same batch again (over the same data directory, or on the same cluster) resumes it.
 */
public final class BatchRunner {

    private static final Logger LOGGER = LoggerFactory.getLogger(BatchRunner.class);

    /** The scheme of the built-in engine simulator's backend URLs: {@code sim://[profile]}. */
    public static final String SIM_SCHEME = "sim://";
    /** The simulator profile {@code sim://} means when it names none. */
    public static final String DEFAULT_SIM_PROFILE = "h100-qwen2.5-32b";

    /**
     * @param bootstrapServers a Kafka cluster, or null for an embedded broker in {@code dataDir}
     * @param dataDir where the embedded broker and Streams state live
     * @param backend the engine URL: {@code sim://[profile]}, {@code sglang://host:port}, ...
     * @param engineApiKey secret for API backends, or null
     * @param simToolRule tool-call rule of the simulator's scripted model, or null for its default
     * @param batchId the batch id, or null to derive it from the definition
     * @param maxInflight model calls in flight at most
     * @param toolOptions options for built-in tools
     * @param topicPrefix topic name prefix
     * @param timeout how long to wait for every result
     * @param retryFailed run jobs whose final result is FAILED or CANCELLED again
     * @param tools tool-worker settings (Redis, MCP servers, HTTP tool hosts), or null for defaults
     * @param kafkaProperties extra Kafka client settings for every stage
     * @param withWorkers with a cluster, run every stage in this JVM too; without one they always run here
     * @param metricsPort serve the stages' /metrics, /health and /ready on this port (0: a free one), or null
     * @param flowControl how the inference worker paces model calls and rides out outages; null for its defaults
     * @param engineTimeout longest one model call attempt may take; null for the default
     */
    public record Settings(
            String bootstrapServers,
            Path dataDir,
            String backend,
            String engineApiKey,
            String simToolRule,
            String batchId,
            int maxInflight,
            Map<String, String> toolOptions,
            String topicPrefix,
            Duration timeout,
            boolean retryFailed,
            ToolWorkerConfig tools,
            Map<String, String> kafkaProperties,
            boolean withWorkers,
            Integer metricsPort,
            FlowControl flowControl,
            Duration engineTimeout) {

        /** Settings that run stages in this JVM only when no cluster is given, with the default flow control. */
        public Settings(
                String bootstrapServers,
                Path dataDir,
                String backend,
                String engineApiKey,
                String simToolRule,
                String batchId,
                int maxInflight,
                Map<String, String> toolOptions,
                String topicPrefix,
                Duration timeout,
                boolean retryFailed,
                ToolWorkerConfig tools,
                Map<String, String> kafkaProperties) {
            this(
                    bootstrapServers,
                    dataDir,
                    backend,
                    engineApiKey,
                    simToolRule,
                    batchId,
                    maxInflight,
                    toolOptions,
                    topicPrefix,
                    timeout,
                    retryFailed,
                    tools,
                    kafkaProperties,
                    false,
                    null,
                    null,
                    null);
        }

        /** Settings with no extra Kafka client properties. */
        public Settings(
                String bootstrapServers,
                Path dataDir,
                String backend,
                String engineApiKey,
                String simToolRule,
                String batchId,
                int maxInflight,
                Map<String, String> toolOptions,
                String topicPrefix,
                Duration timeout,
                boolean retryFailed,
                ToolWorkerConfig tools) {
            this(
                    bootstrapServers,
                    dataDir,
                    backend,
                    engineApiKey,
                    simToolRule,
                    batchId,
                    maxInflight,
                    toolOptions,
                    topicPrefix,
                    timeout,
                    retryFailed,
                    tools,
                    Map.of());
        }

        /** Settings that do not rerun failed jobs. */
        public Settings(
                String bootstrapServers,
                Path dataDir,
                String backend,
                String engineApiKey,
                String simToolRule,
                String batchId,
                int maxInflight,
                Map<String, String> toolOptions,
                String topicPrefix,
                Duration timeout) {
            this(
                    bootstrapServers,
                    dataDir,
                    backend,
                    engineApiKey,
                    simToolRule,
                    batchId,
                    maxInflight,
                    toolOptions,
                    topicPrefix,
                    timeout,
                    false,
                    null,
                    Map.of());
        }

        /** Settings with the default tool worker (in-process cache, no MCP servers). */
        public Settings(
                String bootstrapServers,
                Path dataDir,
                String backend,
                String engineApiKey,
                String simToolRule,
                String batchId,
                int maxInflight,
                Map<String, String> toolOptions,
                String topicPrefix,
                Duration timeout,
                boolean retryFailed) {
            this(
                    bootstrapServers,
                    dataDir,
                    backend,
                    engineApiKey,
                    simToolRule,
                    batchId,
                    maxInflight,
                    toolOptions,
                    topicPrefix,
                    timeout,
                    retryFailed,
                    null,
                    Map.of());
        }

        public Settings {
            backend = backend == null || backend.isBlank() ? SIM_SCHEME : backend;
            toolOptions = toolOptions == null ? Map.of() : Map.copyOf(toolOptions);
            kafkaProperties = kafkaProperties == null ? Map.of() : Map.copyOf(kafkaProperties);
            topicPrefix = topicPrefix == null ? "" : topicPrefix;
            timeout = timeout == null ? Duration.ofHours(24) : timeout;
            flowControl = flowControl == null ? FlowControl.defaults() : flowControl;
            engineTimeout = engineTimeout == null ? InferenceWorkerConfig.DEFAULT_ENGINE_TIMEOUT : engineTimeout;
            if (dataDir == null) {
                throw new IllegalArgumentException("a data directory is required");
            }
            if (metricsPort != null && !runsStages()) {
                throw new IllegalArgumentException(
                        "--metrics-port serves the metrics of the stages this process runs, and "
                                + "with --bootstrap-servers it runs none: add --with-workers, or scrape the workers' own ports");
            }
        }

        /** Whether the stages run in this JVM: without a cluster, or when asked to. */
        public boolean runsStages() {
            return bootstrapServers == null || withWorkers;
        }

        /** Hides the API key. */
        @Override
        public String toString() {
            return "Settings[bootstrapServers=" + bootstrapServers + ", dataDir=" + dataDir + ", backend=" + backend
                    + ", engineApiKey=" + (engineApiKey == null ? "none" : "[hidden]") + ", batchId=" + batchId
                    + ", maxInflight=" + maxInflight + ", withWorkers=" + withWorkers + "]";
        }
    }

    private BatchRunner() {}

    /** The engine URL the workers use for a simulator: SGLang's scheme, so they speak its dialect. */
    public static String engineUrl(EngineSimulator simulator) {
        return "sglang://127.0.0.1:" + simulator.port();
    }

    /**
     * What a caller of {@link #run} is told while the batch runs; a lambda is a result callback
     * ({@code result -> ...}).
     */
    @FunctionalInterface
    public interface Observer {

        /** Before the batch is submitted: {@code client} can start following its topics. */
        default void submitting(BatchClient client) {}

        /** Once the batch is submitted, before any result is awaited. */
        default void submitted(BatchClient.Submission submission) {}

        /** Once per job as its final result arrives (from the collecting thread). */
        void result(AgentResult result);

        /** Asked while waiting for results: true gives the batch up ({@link StoppedException}). */
        default boolean giveUp() {
            return false;
        }
    }

    /**
     * Thrown by {@link #run(Settings, BatchDefinition, Observer)} when its observer gave the batch up:
     * the stages and the broker are closed cleanly by then, and every result that arrived was passed
     * on. The batch itself goes on where it runs; a rerun resumes it.
     */
    public static final class StoppedException extends RuntimeException {
        StoppedException(String batchId, Throwable cause) {
            super("stopped waiting for batch " + batchId, cause);
        }
    }

    /**
     * Runs {@code definition} to completion, telling {@code observer} of the submission and of each
     * result. The stages run in this JVM when {@link Settings#runsStages()}; otherwise this is only a
     * client of workers that run elsewhere, and the summary has no engine counters or local tool
     * executions.
     *
     * @throws StoppedException if {@code observer} gave the batch up
     */
    public static BatchSummary run(Settings settings, BatchDefinition definition, Observer observer)
            throws TimeoutException {
        String batchId = settings.batchId() != null ? settings.batchId() : definition.derivedBatchId();
        try (LocalStack stack = settings.runsStages() ? LocalStack.start(settings) : null;
                ProcessOps ops = stack == null || settings.metricsPort() == null
                        ? null
                        : ProcessOps.start(
                                stack.pipeline(),
                                stack.config(),
                                EnumSet.allOf(Stage.class),
                                new InetSocketAddress(settings.metricsPort()));
                EngineAdmin admin = stack == null
                        ? null
                        : new EngineAdmin(
                                EngineEndpoint.parse(stack.engineUrl()),
                                InferenceWorkerConfig.defaults().withEngineApiKey(settings.engineApiKey()))) {
            BatchClient client = stack != null
                    ? stack.client()
                    : ClusterSettings.of(settings.bootstrapServers())
                            .withTopicPrefix(settings.topicPrefix())
                            .withKafkaProperties(settings.kafkaProperties())
                            .client();
            if (ops != null) {
                LOGGER.info("the stages' /metrics, /health and /ready on port {}", ops.port());
            }
            EngineMetrics before = admin == null ? null : admin.scrapeMetrics().join();
            long started = System.nanoTime();
            observer.submitting(client);
            BatchClient.Submission submission = client.submit(batchId, definition, settings.retryFailed());
            if (stack != null) {
                // Submitted while the Streams apps may still be joining their groups (they read it from the
                // earliest offset); a stage that failed to start still stops the run here.
                stack.awaitRunning();
            }
            observer.submitted(submission);
            List<AgentResult> results;
            try {
                results = client.await(submission, observer::result, settings.timeout(), observer::giveUp);
            } catch (CancellationException e) {
                throw new StoppedException(batchId, e);
            }
            Duration wall = Duration.ofNanos(System.nanoTime() - started);
            EngineMetrics.Delta engine =
                    admin == null ? null : admin.scrapeMetrics().join().since(before);
            ToolActivity tools = client.toolActivity(submission.jobIds());
            return new BatchSummary(
                    batchId,
                    results,
                    wall,
                    stack == null ? 0 : stack.pipeline().toolExecutions(),
                    submission.alreadyFinished(),
                    engine,
                    tools.summary(),
                    stack == null || stack.pipeline().inferenceWorker() == null
                            ? null
                            : stack.pipeline().inferenceWorker().flowSummary());
        }
    }

    /** Starts the engine simulator for a {@code sim://[profile]} backend; null for any other backend. */
    public static EngineSimulator startSimulator(Settings settings) {
        if (!settings.backend().startsWith(SIM_SCHEME)) {
            return null;
        }
        String profile = settings.backend().substring(SIM_SCHEME.length());
        // The simulator speaks SGLang's dialect (priority scheduling, cache report), so the workers
        // probe it and send what they would send SGLang.
        SimulatorOptions.Builder options = SimulatorOptions.builder()
                .profile(profile.isBlank() ? DEFAULT_SIM_PROFILE : profile)
                .dialect(SimulatorDialect.SGLANG)
                .priorityScheduling(true);
        if (settings.simToolRule() != null) {
            options.toolCallRule(settings.simToolRule());
        }
        EngineSimulator simulator = EngineSimulator.start(options.build());
        LOGGER.info(
                "engine simulator (SIMULATED figures) at {} profile={}",
                simulator.baseUrl(),
                profile.isBlank() ? DEFAULT_SIM_PROFILE : profile);
        return simulator;
    }
}
