package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.schemas.Topics;
import io.batchagent.schemas.serde.AvroWireSerde;
import io.batchagent.schemas.serde.RestSchemaRegistry;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.InProcessSchemaRegistry;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Defect 4's trigger on a real broker: the schema registry answers 503 while a stage meets a schema id
 * it has not cached. The record is processed once the registry answers again, and never dead-lettered:
 * within the registry client's retry timeout the stream thread simply waits; past it, the thread fails
 * and its replacement reads the record again.
 */
@WithKafka
class RegistryOutageIT {

    @TempDir
    Path stateDir;

    @Test
    void shouldWaitOutAShortOutageInsideTheRegistryClient(KafkaCluster kafka, TestInfo info) throws Exception {
        try (InProcessSchemaRegistry registry = InProcessSchemaRegistry.start();
                PipelineFixture fixture = compilerOnly(kafka, info, registry, "30000")) {
            int lookupsBefore = registry.schemaByIdCalls();

            String jobId = submitWhileTheRegistryFails(kafka, fixture, registry, 3);

            awaitFirstTurn(kafka, fixture.pipeline.topics(), jobId);
            assertThat(TopicContents.read(
                            kafka.clientConfig(), fixture.pipeline.topics().deadLetters()))
                    .isEmpty();
            assertThat(registry.schemaByIdCalls() - lookupsBefore)
                    .as("three refused lookups, then one answered")
                    .isEqualTo(4);
            assertThat(fixture.pipeline.streamThreadFailures("job-compiler")).isZero();
        }
    }

    @Test
    void shouldReadTheRecordAgainInANewThreadWhenTheOutageOutlastsTheClientsRetries(KafkaCluster kafka, TestInfo info)
            throws Exception {
        try (InProcessSchemaRegistry registry = InProcessSchemaRegistry.start();
                PipelineFixture fixture = compilerOnly(kafka, info, registry, "0")) {

            String jobId = submitWhileTheRegistryFails(kafka, fixture, registry, 1);

            awaitFirstTurn(kafka, fixture.pipeline.topics(), jobId);
            assertThat(TopicContents.read(
                            kafka.clientConfig(), fixture.pipeline.topics().deadLetters()))
                    .isEmpty();
            assertThat(fixture.pipeline.streamThreadFailures("job-compiler"))
                    .as("the thread that met the outage")
                    .isOne();
        }
    }

    /** A job compiler reading through {@code registry}; a replaced thread gets its partitions after 6 s, not 45. */
    private PipelineFixture compilerOnly(
            KafkaCluster kafka, TestInfo info, InProcessSchemaRegistry registry, String retryTimeoutMs) {
        return PipelineFixture.start(
                kafka,
                TestNames.of(info),
                stateDir,
                SimulatorOptions.builder().profile("instant"),
                c -> c.withSerdeConfig(Map.of(
                                "schema.registry.url",
                                registry.url(),
                                RestSchemaRegistry.RETRY_TIMEOUT_MS_CONFIG,
                                retryTimeoutMs))
                        .withKafkaProperties(Map.of("consumer.session.timeout.ms", "6000")),
                EnumSet.of(Stage.JOB_COMPILER));
    }

    /**
     * Publishes a batch spec through the stage's own registry client (so it knows that schema) and one
     * job through another client's (so the stage must look its schema id up), the registry refusing the
     * next {@code failures} calls. Returns the job's id.
     */
    private static String submitWhileTheRegistryFails(
            KafkaCluster kafka, PipelineFixture fixture, InProcessSchemaRegistry registry, int failures)
            throws Exception {
        Topics topics = fixture.pipeline.topics();
        BatchDefinition definition = PipelineFixture.definition(
                "You are a test agent.", "Topic: {topic}", List.of("{\"topic\":\"a\"}"), List.of(), 3);
        BatchSpec spec = definition.toSpec("outage", System.currentTimeMillis());
        String jobId = BatchClient.jobId("outage", 0, "{\"topic\":\"a\"}");
        byte[] job = new AvroWireSerde<>(AgentJob.class, new RestSchemaRegistry(registry.url()))
                .serialize(topics.agentJobs().name(), new AgentJob(jobId, "outage", 0L, "{\"topic\":\"a\"}", 1L, 1));
        try (KafkaProducer<String, byte[]> producer =
                new KafkaProducer<>(kafka.producerConfig(), new StringSerializer(), new ByteArraySerializer())) {
            producer.send(new ProducerRecord<>(
                            topics.batchSpecs().name(),
                            "outage",
                            topics.batchSpecs()
                                    .valueSerde()
                                    .serializer()
                                    .serialize(topics.batchSpecs().name(), spec)))
                    .get();
            registry.failNextCalls(failures, 503);
            producer.send(new ProducerRecord<>(topics.agentJobs().name(), jobId, job))
                    .get();
        }
        return jobId;
    }

    private static void awaitFirstTurn(KafkaCluster kafka, Topics topics, String jobId) {
        // A failed stream thread is how the record gets read again: not a test failure.
        await().atMost(Duration.ofMinutes(2))
                .pollInterval(Duration.ofMillis(500))
                .dontCatchUncaughtExceptions()
                .until(() -> TopicContents.read(kafka.clientConfig(), topics.agentTurns()).stream()
                        .map(AgentTurn::getJobId)
                        .anyMatch(jobId::equals));
    }
}
