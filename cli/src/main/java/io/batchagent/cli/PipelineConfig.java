package io.batchagent.cli;

import io.batchagent.inference.FlowControl;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.tools.ToolWorkerConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/**
 * How the stages of one process connect and behave. Validated on construction.
 *
 * @param kafkaConfig Kafka client settings, at least {@code bootstrap.servers}
 * @param topicPrefix prefix of every topic name
 * @param serdeConfig value serde settings ({@code schema.registry.url}, {@code value.serde.class})
 * @param partitions partitions per topic when topics are created
 * @param stateDir Kafka Streams state directory
 * @param engineUrl the engine's base URL (an {@code sim://} URL is resolved before this point)
 * @param engineApiKey secret; never logged
 * @param maxInflight model calls in flight per inference worker
 * @param toolConcurrency tool executions in flight per tool worker
 * @param toolOptions options for built-in tools (e.g. {@code sim_search.latency.ms})
 * @param exactlyOnce exactly-once processing in the topologies
 * @param specGrace how long a job may wait for its batch spec
 * @param toolExpiryGrace how long past its timeout a tool call may stay pending
 * @param applicationIdPrefix prefix of the Streams application ids and consumer groups
 * @param warmUp warm each batch's shared prefix on the engine before its first turns run
 * @param warmUpTimeout how long a batch's turns may wait for its warm-up
 * @param toolWorker further tool-worker settings (Redis cache and limits, MCP servers, HTTP tool
 *     hosts); its group id, concurrency and tool options are taken from this config
 * @param flowControl how inference workers pace model calls: adaptive in-flight under {@code maxInflight} (or
 *     fixed at it), and the outage budget ({@link FlowControl}); null for its defaults
 * @param engineTimeout longest one model call attempt may take; a hang past it counts as an engine failure.
 *     Null for {@link InferenceWorkerConfig#DEFAULT_ENGINE_TIMEOUT}
 */
public record PipelineConfig(
        Map<String, Object> kafkaConfig,
        String topicPrefix,
        Map<String, String> serdeConfig,
        int partitions,
        Path stateDir,
        String engineUrl,
        String engineApiKey,
        int maxInflight,
        int toolConcurrency,
        Map<String, String> toolOptions,
        boolean exactlyOnce,
        Duration specGrace,
        Duration toolExpiryGrace,
        String applicationIdPrefix,
        boolean warmUp,
        Duration warmUpTimeout,
        ToolWorkerConfig toolWorker,
        FlowControl flowControl,
        Duration engineTimeout) {

    /** A configuration with warm-up on (30 s bound). */
    public PipelineConfig(
            Map<String, Object> kafkaConfig,
            String topicPrefix,
            Map<String, String> serdeConfig,
            int partitions,
            Path stateDir,
            String engineUrl,
            String engineApiKey,
            int maxInflight,
            int toolConcurrency,
            Map<String, String> toolOptions,
            boolean exactlyOnce,
            Duration specGrace,
            Duration toolExpiryGrace,
            String applicationIdPrefix) {
        this(
                kafkaConfig,
                topicPrefix,
                serdeConfig,
                partitions,
                stateDir,
                engineUrl,
                engineApiKey,
                maxInflight,
                toolConcurrency,
                toolOptions,
                exactlyOnce,
                specGrace,
                toolExpiryGrace,
                applicationIdPrefix,
                true,
                null,
                null,
                null,
                null);
    }

    public PipelineConfig {
        Objects.requireNonNull(kafkaConfig.get("bootstrap.servers"), "kafkaConfig needs bootstrap.servers");
        kafkaConfig = Map.copyOf(kafkaConfig);
        topicPrefix = topicPrefix == null ? "" : topicPrefix;
        serdeConfig = serdeConfig == null ? Map.of() : Map.copyOf(serdeConfig);
        toolOptions = toolOptions == null ? Map.of() : Map.copyOf(toolOptions);
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be at least 1, got " + partitions);
        }
        if (maxInflight < 1) {
            throw new IllegalArgumentException("max in-flight must be at least 1, got " + maxInflight);
        }
        if (toolConcurrency < 1) {
            throw new IllegalArgumentException("tool concurrency must be at least 1, got " + toolConcurrency);
        }
        specGrace = specGrace == null ? Duration.ofSeconds(30) : specGrace;
        toolExpiryGrace = toolExpiryGrace == null ? Duration.ofSeconds(30) : toolExpiryGrace;
        applicationIdPrefix =
                applicationIdPrefix == null || applicationIdPrefix.isBlank() ? "batchagent" : applicationIdPrefix;
        Objects.requireNonNull(stateDir, "stateDir");
        warmUpTimeout = warmUpTimeout == null ? Duration.ofSeconds(30) : warmUpTimeout;
        toolWorker = toolWorker == null ? ToolWorkerConfig.defaults() : toolWorker;
        flowControl = flowControl == null ? FlowControl.defaults() : flowControl;
        engineTimeout = engineTimeout == null ? InferenceWorkerConfig.DEFAULT_ENGINE_TIMEOUT : engineTimeout;
        if (engineTimeout.isNegative() || engineTimeout.isZero()) {
            throw new IllegalArgumentException("the engine timeout must be positive, got " + engineTimeout);
        }
        if (warmUpTimeout.isNegative() || warmUpTimeout.isZero()) {
            throw new IllegalArgumentException("the warm-up timeout must be positive, got " + warmUpTimeout);
        }
    }

    /** Defaults for everything but the connection and the engine. */
    public static PipelineConfig defaults(String bootstrapServers, String engineUrl, Path stateDir) {
        return new PipelineConfig(
                Map.of("bootstrap.servers", bootstrapServers),
                "",
                Map.of(),
                4,
                stateDir,
                engineUrl,
                null,
                32,
                64,
                Map.of(),
                true,
                null,
                null,
                null,
                true,
                null,
                null,
                null,
                null);
    }

    /** Adds client settings (e.g. security, timeouts) to every stage's Kafka clients. */
    public PipelineConfig withKafkaProperties(Map<String, String> extra) {
        Map<String, Object> merged = new java.util.HashMap<>(kafkaConfig);
        merged.putAll(extra);
        return new PipelineConfig(
                merged,
                topicPrefix,
                serdeConfig,
                partitions,
                stateDir,
                engineUrl,
                engineApiKey,
                maxInflight,
                toolConcurrency,
                toolOptions,
                exactlyOnce,
                specGrace,
                toolExpiryGrace,
                applicationIdPrefix,
                warmUp,
                warmUpTimeout,
                toolWorker,
                flowControl,
                engineTimeout);
    }

    public PipelineConfig withMaxInflight(int value) {
        return new PipelineConfig(
                kafkaConfig,
                topicPrefix,
                serdeConfig,
                partitions,
                stateDir,
                engineUrl,
                engineApiKey,
                value,
                toolConcurrency,
                toolOptions,
                exactlyOnce,
                specGrace,
                toolExpiryGrace,
                applicationIdPrefix,
                warmUp,
                warmUpTimeout,
                toolWorker,
                flowControl,
                engineTimeout);
    }

    public PipelineConfig withTopicPrefix(String value) {
        return new PipelineConfig(
                kafkaConfig,
                value,
                serdeConfig,
                partitions,
                stateDir,
                engineUrl,
                engineApiKey,
                maxInflight,
                toolConcurrency,
                toolOptions,
                exactlyOnce,
                specGrace,
                toolExpiryGrace,
                value + "batchagent",
                warmUp,
                warmUpTimeout,
                toolWorker,
                flowControl,
                engineTimeout);
    }

    public PipelineConfig withToolOptions(Map<String, String> value) {
        return new PipelineConfig(
                kafkaConfig,
                topicPrefix,
                serdeConfig,
                partitions,
                stateDir,
                engineUrl,
                engineApiKey,
                maxInflight,
                toolConcurrency,
                value,
                exactlyOnce,
                specGrace,
                toolExpiryGrace,
                applicationIdPrefix,
                warmUp,
                warmUpTimeout,
                toolWorker,
                flowControl,
                engineTimeout);
    }

    public PipelineConfig withSerdeConfig(Map<String, String> value) {
        return new PipelineConfig(
                kafkaConfig,
                topicPrefix,
                value,
                partitions,
                stateDir,
                engineUrl,
                engineApiKey,
                maxInflight,
                toolConcurrency,
                toolOptions,
                exactlyOnce,
                specGrace,
                toolExpiryGrace,
                applicationIdPrefix,
                warmUp,
                warmUpTimeout,
                toolWorker,
                flowControl,
                engineTimeout);
    }

    public PipelineConfig withEngine(String url, String apiKey) {
        return new PipelineConfig(
                kafkaConfig,
                topicPrefix,
                serdeConfig,
                partitions,
                stateDir,
                url,
                apiKey,
                maxInflight,
                toolConcurrency,
                toolOptions,
                exactlyOnce,
                specGrace,
                toolExpiryGrace,
                applicationIdPrefix,
                warmUp,
                warmUpTimeout,
                toolWorker,
                flowControl,
                engineTimeout);
    }

    public PipelineConfig withExactlyOnce(boolean value) {
        return new PipelineConfig(
                kafkaConfig,
                topicPrefix,
                serdeConfig,
                partitions,
                stateDir,
                engineUrl,
                engineApiKey,
                maxInflight,
                toolConcurrency,
                toolOptions,
                value,
                specGrace,
                toolExpiryGrace,
                applicationIdPrefix,
                warmUp,
                warmUpTimeout,
                toolWorker,
                flowControl,
                engineTimeout);
    }

    public PipelineConfig withWarmUp(boolean enabled, Duration timeout) {
        return new PipelineConfig(
                kafkaConfig,
                topicPrefix,
                serdeConfig,
                partitions,
                stateDir,
                engineUrl,
                engineApiKey,
                maxInflight,
                toolConcurrency,
                toolOptions,
                exactlyOnce,
                specGrace,
                toolExpiryGrace,
                applicationIdPrefix,
                enabled,
                timeout,
                toolWorker,
                flowControl,
                engineTimeout);
    }

    public PipelineConfig withToolWorker(ToolWorkerConfig value) {
        return new PipelineConfig(
                kafkaConfig,
                topicPrefix,
                serdeConfig,
                partitions,
                stateDir,
                engineUrl,
                engineApiKey,
                maxInflight,
                toolConcurrency,
                toolOptions,
                exactlyOnce,
                specGrace,
                toolExpiryGrace,
                applicationIdPrefix,
                warmUp,
                warmUpTimeout,
                value,
                flowControl,
                engineTimeout);
    }

    public PipelineConfig withPartitions(int value) {
        return new PipelineConfig(
                kafkaConfig,
                topicPrefix,
                serdeConfig,
                value,
                stateDir,
                engineUrl,
                engineApiKey,
                maxInflight,
                toolConcurrency,
                toolOptions,
                exactlyOnce,
                specGrace,
                toolExpiryGrace,
                applicationIdPrefix,
                warmUp,
                warmUpTimeout,
                toolWorker,
                flowControl,
                engineTimeout);
    }

    public PipelineConfig withGraces(Duration spec, Duration toolExpiry) {
        return new PipelineConfig(
                kafkaConfig,
                topicPrefix,
                serdeConfig,
                partitions,
                stateDir,
                engineUrl,
                engineApiKey,
                maxInflight,
                toolConcurrency,
                toolOptions,
                exactlyOnce,
                spec,
                toolExpiry,
                applicationIdPrefix,
                warmUp,
                warmUpTimeout,
                toolWorker,
                flowControl,
                engineTimeout);
    }

    public PipelineConfig withFlowControl(FlowControl value, Duration timeout) {
        return new PipelineConfig(
                kafkaConfig,
                topicPrefix,
                serdeConfig,
                partitions,
                stateDir,
                engineUrl,
                engineApiKey,
                maxInflight,
                toolConcurrency,
                toolOptions,
                exactlyOnce,
                specGrace,
                toolExpiryGrace,
                applicationIdPrefix,
                warmUp,
                warmUpTimeout,
                toolWorker,
                value,
                timeout);
    }

    /** Hides the API key. */
    @Override
    public String toString() {
        return "PipelineConfig[bootstrap=" + kafkaConfig.get("bootstrap.servers") + ", topicPrefix=" + topicPrefix
                + ", partitions=" + partitions + ", engineUrl=" + engineUrl + ", engineApiKey="
                + (engineApiKey == null ? "none" : "[hidden]") + ", maxInflight=" + maxInflight
                + ", toolConcurrency=" + toolConcurrency + ", exactlyOnce=" + exactlyOnce + ", warmUp=" + warmUp
                + ", flowControl=" + flowControl + ", engineTimeout=" + engineTimeout + "]";
    }
}
