package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.schemas.Topics;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/** Invariant 5: bad input fails only its own job, with a specific reason, and the batch goes on. */
@WithKafka
class BadInputIT {

    private static final String TEMPLATE = "Topic: {topic}\nQuery: {query}";

    @TempDir
    Path stateDir;

    @Test
    void shouldFailOnlyTheBadJobsWithSpecificReasonsAndFinishTheRest(KafkaCluster kafka, TestInfo info)
            throws Exception {
        try (PipelineFixture fixture = PipelineFixture.start(
                kafka,
                TestNames.of(info),
                stateDir,
                SimulatorOptions.builder().profile("instant").failOnMarker("ENGINE-FAIL"),
                c -> c.withToolOptions(Map.of("sim_search.latency.ms", "20")))) {
            List<String> inputs = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                inputs.add(
                        switch (i) {
                            case 3 -> "{\"topic\":\"t3\"}";
                            case 5 -> "{\"topic\":\"ENGINE-FAIL\",\"query\":\"q5\"}";
                            default -> "{\"topic\":\"t" + i + "\",\"query\":\"q" + i + "\"}";
                        });
            }
            BatchDefinition definition = PipelineFixture.definition(
                    "You are a test agent.", TEMPLATE, inputs, List.of(PipelineFixture.simSearch(10_000)), 3);
            Topics topics = fixture.pipeline.topics();
            try (KafkaProducer<String, byte[]> raw =
                    new KafkaProducer<>(kafka.producerConfig(), new StringSerializer(), new ByteArraySerializer())) {
                // Read by the stages' global tables: it must cost a dead letter, never a stage.
                raw.send(new ProducerRecord<>(
                                topics.batchSpecs().name(),
                                "garbage-spec",
                                "not a spec".getBytes(StandardCharsets.UTF_8)))
                        .get();
            }
            BatchClient.Submission submission = fixture.client.submit("mixed", definition);
            try (KafkaProducer<String, byte[]> raw =
                    new KafkaProducer<>(kafka.producerConfig(), new StringSerializer(), new ByteArraySerializer())) {
                raw.send(new ProducerRecord<>(
                                topics.agentJobs().name(),
                                "garbage-job",
                                "not an event".getBytes(StandardCharsets.UTF_8)))
                        .get();
                // agent-jobs is not compacted: a record without a value is a bad record, not a delete
                raw.send(new ProducerRecord<>(topics.agentJobs().name(), "tombstone-job", null))
                        .get();
            }
            try (KafkaProducer<String, AgentJob> producer = new KafkaProducer<>(
                    kafka.clientConfig(),
                    new StringSerializer(),
                    topics.agentJobs().valueSerde().serializer())) {
                producer.send(new ProducerRecord<>(
                                topics.agentJobs().name(),
                                "ghost-000000",
                                new AgentJob("ghost-000000", "ghost", 0L, "{}", System.currentTimeMillis(), 1)))
                        .get();
            }
            List<String> wanted = new ArrayList<>(submission.jobIds());
            wanted.add("garbage-job");
            wanted.add("tombstone-job");
            wanted.add("ghost-000000");

            Map<String, AgentResult> results = fixture.client.await(wanted, r -> {}, Duration.ofMinutes(2)).stream()
                    .collect(Collectors.toMap(AgentResult::getJobId, Function.identity()));

            assertThat(results.get(submission.jobIds().get(3)).getError().getReason())
                    .isEqualTo(ErrorReason.MISSING_TEMPLATE_VARIABLE);
            assertThat(results.get(submission.jobIds().get(3)).getError().getMessage())
                    .contains("'query'");
            assertThat(results.get(submission.jobIds().get(5)).getError().getReason())
                    .isEqualTo(ErrorReason.ENGINE_ERROR);
            assertThat(results.get(submission.jobIds().get(5)).getError().getMessage())
                    .contains("500");
            assertThat(results.get("garbage-job").getError().getReason()).isEqualTo(ErrorReason.UNDECODABLE_RECORD);
            assertThat(results.get("tombstone-job").getError().getReason()).isEqualTo(ErrorReason.UNDECODABLE_RECORD);
            assertThat(results.get("tombstone-job").getError().getMessage()).contains("no value (a tombstone)");
            assertThat(results.get("ghost-000000").getError().getReason()).isEqualTo(ErrorReason.UNKNOWN_BATCH);
            assertThat(results.get("ghost-000000").getError().getMessage()).contains("'ghost'");
            assertThat(results.values().stream().filter(r -> r.getStatus() == JobStatus.SUCCEEDED))
                    .hasSize(8);

            List<DeadLetter> deadLetters = TopicContents.read(kafka.clientConfig(), topics.deadLetters());
            assertThat(deadLetters)
                    .filteredOn(letter ->
                            letter.getTopic().equals(topics.agentJobs().name()))
                    .extracting(DeadLetter::getReason)
                    .hasSize(2)
                    .anySatisfy(reason -> assertThat(reason).contains("Confluent wire format"))
                    .anySatisfy(reason -> assertThat(reason).contains("a tombstone"));
            assertThat(deadLetters)
                    .filteredOn(letter ->
                            letter.getTopic().equals(topics.batchSpecs().name()))
                    .isNotEmpty()
                    .allSatisfy(letter -> assertThat(letter.getKey().array())
                            .isEqualTo("garbage-spec".getBytes(StandardCharsets.UTF_8)));
            assertThat(deadLetters)
                    .extracting(DeadLetter::getTopic)
                    .containsOnly(topics.agentJobs().name(), topics.batchSpecs().name());
        }
    }

    @Test
    void shouldReturnAThrowingToolsErrorToTheModelAndFinishTheJob(KafkaCluster kafka, TestInfo info) throws Exception {
        try (PipelineFixture fixture = PipelineFixture.start(
                kafka, TestNames.of(info), stateDir, SimulatorOptions.builder().profile("instant"), c -> c)) {
            ToolSpec failing = ToolSpec.newBuilder()
                    .setName("always_fails")
                    .setDescription("a TEST tool that throws")
                    .setParametersJson(
                            "{\"properties\":{\"query\":{\"type\":\"string\"}},\"required\":[\"query\"],\"type\":\"object\"}")
                    .setTimeoutMs(5_000)
                    .build();
            BatchDefinition definition = PipelineFixture.definition(
                    "You are a test agent.",
                    TEMPLATE,
                    List.of("{\"topic\":\"a\",\"query\":\"qa\"}", "{\"topic\":\"b\",\"query\":\"qb\"}"),
                    List.of(failing),
                    3);

            BatchSummary summary = fixture.run("throwing", definition, Duration.ofMinutes(2));

            assertThat(summary.results()).extracting(AgentResult::getStatus).containsOnly(JobStatus.SUCCEEDED);
            assertThat(summary.results()).extracting(AgentResult::getTurns).containsOnly(2);
            List<ToolResult> toolResults = TopicContents.read(
                    kafka.clientConfig(), fixture.pipeline.topics().toolResults());
            assertThat(toolResults).hasSize(2).allSatisfy(result -> {
                assertThat(result.getStatus()).isEqualTo(ToolStatus.ERROR);
                assertThat(result.getError()).contains("IllegalStateException").contains("always_fails was asked for");
            });
        }
    }
}
