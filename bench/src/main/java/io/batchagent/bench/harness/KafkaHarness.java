package io.batchagent.bench.harness;

import io.batchagent.cli.Pipeline;
import io.batchagent.cli.PipelineConfig;
import io.batchagent.cli.Stage;
import io.batchagent.kafka.embedded.EmbeddedKafkaBroker;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * An embedded single-node Kafka broker for one driver, and BatchAgent pipelines started on it. Each
 * pipeline gets its own topic prefix (so its topics, Streams applications, consumer groups and tool
 * result cache are new) and a {@link BenchClient}.
 */
public final class KafkaHarness implements AutoCloseable {

    /** The stages a BatchAgent run needs, in one process. */
    public static final Set<Stage> ALL_STAGES =
            EnumSet.of(Stage.JOB_COMPILER, Stage.COALESCER, Stage.ASSEMBLER, Stage.INFERENCE, Stage.TOOLS);

    private final Path workDir;
    private final EmbeddedKafkaBroker broker;

    private KafkaHarness(Path workDir, EmbeddedKafkaBroker broker) {
        this.workDir = workDir;
        this.broker = broker;
    }

    /** Starts a broker in {@code workDir}/kafka; whatever was in {@code workDir} is deleted first. */
    public static KafkaHarness start(Path workDir) {
        deleteRecursively(workDir);
        return new KafkaHarness(workDir, EmbeddedKafkaBroker.start(workDir.resolve("kafka")));
    }

    public String bootstrapServers() {
        return broker.bootstrapServers();
    }

    public Map<String, Object> kafkaConfig() {
        return Map.of("bootstrap.servers", bootstrapServers());
    }

    public Path workDir() {
        return workDir;
    }

    /**
     * A pipeline configuration on this broker.
     *
     * @param topicPrefix unique per pipeline
     * @param exactlyOnce the topologies' processing guarantee (the product default is exactly-once)
     */
    public PipelineConfig config(
            String topicPrefix,
            String engineUrl,
            int maxInflight,
            Map<String, String> toolOptions,
            boolean exactlyOnce,
            int partitions) {
        PipelineConfig base = PipelineConfig.defaults(
                        bootstrapServers(),
                        engineUrl,
                        workDir.resolve("streams").resolve(topicPrefix))
                .withTopicPrefix(topicPrefix)
                .withMaxInflight(maxInflight)
                .withToolOptions(toolOptions)
                .withPartitions(partitions);
        return base.withExactlyOnce(exactlyOnce).withWarmUp(true, null);
    }

    /** A started pipeline and a client on its topics; closing closes both. */
    public record Run(Pipeline pipeline, BenchClient client) implements AutoCloseable {
        @Override
        public void close() {
            client.close();
            pipeline.close();
        }
    }

    /** Starts {@code stages} of a pipeline in this JVM (creating its topics) and a client for it. */
    public Run startPipeline(PipelineConfig config, Set<Stage> stages) {
        Pipeline pipeline = Pipeline.start(config, stages);
        try {
            return new Run(pipeline, new BenchClient(config.kafkaConfig(), pipeline.topics()));
        } catch (RuntimeException e) {
            pipeline.close();
            throw e;
        }
    }

    @Override
    public void close() {
        broker.close();
    }

    /** Deletes {@code dir} and everything below it; nothing when it does not exist. */
    public static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
