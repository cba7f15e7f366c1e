package io.batchagent.cli;

import io.batchagent.client.BatchClient;
import io.batchagent.kafka.embedded.EmbeddedKafkaBroker;
import io.batchagent.simulator.EngineSimulator;
import java.util.EnumSet;

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

    /** Starts what {@code settings} describe (their batch id is ignored). */
    static LocalStack start(BatchRunner.Settings settings) {
        EmbeddedKafkaBroker broker = null;
        EngineSimulator simulator = null;
        try {
            broker = settings.bootstrapServers() == null
                    ? EmbeddedKafkaBroker.start(settings.dataDir().resolve("kafka"))
                    : null;
            simulator = BatchRunner.startSimulator(settings);
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
            Pipeline pipeline = Pipeline.start(config, EnumSet.allOf(Stage.class));
            return new LocalStack(
                    broker,
                    simulator,
                    config,
                    pipeline,
                    new BatchClient(config.kafkaConfig(), pipeline.topics()),
                    engineUrl);
        } catch (RuntimeException e) {
            if (simulator != null) {
                simulator.close();
            }
            if (broker != null) {
                broker.close();
            }
            throw e;
        }
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
