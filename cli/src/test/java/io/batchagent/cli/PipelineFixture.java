package io.batchagent.cli;

import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.events.ToolSpec;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * A running pipeline for one integration test: the engine simulator, the stages on the shared
 * embedded broker under the test's own topic prefix and application ids, and a client.
 */
final class PipelineFixture implements AutoCloseable {

    static final String SCHEMA = "{\"type\":\"object\",\"properties\":{\"answer\":{\"type\":\"string\"},"
            + "\"topic\":{\"type\":\"string\"}},\"required\":[\"answer\",\"topic\"]}";

    final EngineSimulator simulator;
    final PipelineConfig config;
    final Pipeline pipeline;
    final BatchClient client;

    private PipelineFixture(EngineSimulator simulator, PipelineConfig config, Pipeline pipeline) {
        this.simulator = simulator;
        this.config = config;
        this.pipeline = pipeline;
        this.client = new BatchClient(
                config.kafkaConfig(),
                pipeline == null
                        ? io.batchagent.schemas.Topics.create(config.topicPrefix(), config.serdeConfig())
                        : pipeline.topics());
    }

    static PipelineFixture start(
            KafkaCluster kafka,
            TestNames names,
            Path stateDir,
            SimulatorOptions.Builder simulatorOptions,
            UnaryOperator<PipelineConfig> tweak) {
        return start(kafka, names, stateDir, simulatorOptions, tweak, EnumSet.allOf(Stage.class));
    }

    static PipelineFixture start(
            KafkaCluster kafka,
            TestNames names,
            Path stateDir,
            SimulatorOptions.Builder simulatorOptions,
            UnaryOperator<PipelineConfig> tweak,
            Set<Stage> stages) {
        EngineSimulator simulator = EngineSimulator.start(simulatorOptions.build());
        PipelineConfig config =
                tweak.apply(PipelineConfig.defaults(kafka.bootstrapServers(), simulator.baseUrl(), stateDir)
                        .withTopicPrefix(names.topicPrefix())
                        .withGraces(Duration.ofSeconds(5), Duration.ofSeconds(10)));
        try {
            return new PipelineFixture(simulator, config, Pipeline.start(config, stages));
        } catch (RuntimeException e) {
            simulator.close();
            throw e;
        }
    }

    BatchSummary run(String batchId, BatchDefinition definition, Duration timeout) throws Exception {
        long started = System.nanoTime();
        BatchClient.Submission submission = client.submit(batchId, definition);
        var results = client.await(submission.jobIds(), r -> {}, timeout);
        return new BatchSummary(
                batchId,
                results,
                Duration.ofNanos(System.nanoTime() - started),
                pipeline == null ? 0 : pipeline.toolExecutions(),
                submission.alreadyFinished());
    }

    static ToolSpec simSearch(long timeoutMs) {
        return ToolSpec.newBuilder()
                .setName("sim_search")
                .setDescription("SIMULATED search")
                .setParametersJson(
                        "{\"properties\":{\"query\":{\"type\":\"string\"}},\"required\":[\"query\"],\"type\":\"object\"}")
                .setTimeoutMs(timeoutMs)
                .build();
    }

    static BatchDefinition definition(
            String system, String template, List<String> inputs, List<ToolSpec> tools, int maxTurns) {
        return new BatchDefinition(system, template, inputs, tools, SCHEMA, "sim-model", maxTurns, 256);
    }

    @Override
    public void close() {
        if (pipeline != null) {
            pipeline.close();
        }
        simulator.close();
    }
}
