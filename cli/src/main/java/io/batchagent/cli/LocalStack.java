package io.batchagent.cli;

import io.batchagent.client.BatchClient;
import io.batchagent.kafka.embedded.EmbeddedKafkaBroker;
import io.batchagent.simulator.EngineSimulator;
import java.util.EnumSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Everything a batch needs, in this JVM: an embedded broker unless the settings name a cluster, the
 * engine simulator for a {@code sim://} backend, and every stage. What {@code batchagent run
 * --with-workers} (or without a cluster) and {@code BatchAgent.embedded} run. Closes in reverse order.
 */
final class LocalStack implements AutoCloseable {

    private final EmbeddedKafkaBroker broker;
    private final EngineSimulator simulator;
    private final PipelineConfig config;
    private final Pipeline pipeline;
    private final BatchClient client;
    private final String engineUrl;

    private LocalStack(
            EmbeddedKafkaBroker broker,
            EngineSimulator simulator,
            PipelineConfig config,
            Pipeline pipeline,
            BatchClient client,
            String engineUrl) {
        this.broker = broker;
        this.simulator = simulator;
        this.config = config;
        this.pipeline = pipeline;
        this.client = client;
        this.engineUrl = engineUrl;
    }

    /**
     * Starts what {@code settings} describe (their batch id is ignored): the simulator on its own thread while
     * the broker starts, then every stage side by side. Returns once the stages are started, without waiting
     * for the Streams apps to get their partitions ({@link #awaitRunning()}): a batch submitted before then is
     * read from the earliest offset when they do.
     */
    static LocalStack start(BatchRunner.Settings settings) {
        EmbeddedKafkaBroker broker = null;
        CompletableFuture<EngineSimulator> simulatorStart =
                CompletableFuture.supplyAsync(() -> BatchRunner.startSimulator(settings), runnable -> {
                    Thread thread = new Thread(runnable, "batchagent-simulator-start");
                    thread.setDaemon(true);
                    thread.start();
                });
        EngineSimulator simulator = null;
        try {
            broker = settings.bootstrapServers() == null
                    ? EmbeddedKafkaBroker.start(settings.dataDir().resolve("kafka"))
                    : null;
            simulator = joinSimulator(simulatorStart);
            String bootstrap = broker != null ? broker.bootstrapServers() : settings.bootstrapServers();
            String engineUrl = simulator != null ? BatchRunner.engineUrl(simulator) : settings.backend();
            PipelineConfig config = PipelineConfig.defaults(
                            bootstrap, engineUrl, settings.dataDir().resolve("streams"))
                    .withKafkaProperties(settings.kafkaProperties())
                    .withTopicPrefix(settings.topicPrefix())
                    .withMaxInflight(settings.maxInflight())
                    .withToolOptions(settings.toolOptions())
                    .withEngine(engineUrl, settings.engineApiKey())
                    .withToolWorker(settings.tools())
                    .withFlowControl(settings.flowControl(), settings.engineTimeout());
            Pipeline pipeline = Pipeline.launch(config, EnumSet.allOf(Stage.class));
            return new LocalStack(
                    broker,
                    simulator,
                    config,
                    pipeline,
                    new BatchClient(config.kafkaConfig(), pipeline.topics()),
                    engineUrl);
        } catch (RuntimeException e) {
            if (simulator == null) {
                // The broker failed while the simulator was starting: wait for it, to close it.
                try {
                    simulator = simulatorStart.join();
                } catch (RuntimeException simulatorFailure) {
                    e.addSuppressed(simulatorFailure);
                }
            }
            if (simulator != null) {
                simulator.close();
            }
            if (broker != null) {
                broker.close();
            }
            throw e;
        }
    }

    private static EngineSimulator joinSimulator(CompletableFuture<EngineSimulator> start) {
        try {
            return start.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException cause
                    ? cause
                    : new IllegalStateException("engine simulator failed to start: " + e.getCause(), e.getCause());
        }
    }

    /** Waits until the stages' Streams apps run ({@link Pipeline#awaitRunning()}). */
    void awaitRunning() {
        pipeline.awaitRunning();
    }

    /** A client of this stack's broker and topics. */
    BatchClient client() {
        return client;
    }

    /** The configuration the stages run with. */
    PipelineConfig config() {
        return config;
    }

    /** The stages (their tool worker's counters, for example). */
    Pipeline pipeline() {
        return pipeline;
    }

    /** The engine URL the workers call. */
    String engineUrl() {
        return engineUrl;
    }

    @Override
    public void close() {
        pipeline.close();
        if (simulator != null) {
            simulator.close();
        }
        if (broker != null) {
            broker.close();
        }
    }
}
