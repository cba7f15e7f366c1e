package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Map-reduce as events across a crash: the map jobs' inference worker (its own process) is killed
 * with SIGKILL halfway through the map stage and a new one takes over; the reducer still sees every
 * map result once: 15 succeeded and 5 failed.
 */
@WithKafka
class MapReduceCrashIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PLAN_SCHEMA =
            "{\"type\":\"object\",\"required\":[\"items\"],\"properties\":{\"items\":{\"type\":\"array\","
                    + "\"minItems\":20,\"maxItems\":20,\"items\":{\"type\":\"string\",\"enum\":[\"alpha\",\"beta\",\"gamma\",\"MAPFAIL\"]}}}}";

    @TempDir
    Path stateDir;

    @Test
    void shouldReduceTheSameOutcomeWhenTheMapWorkersAreKilledAndRestartedHalfway(KafkaCluster kafka, TestInfo info)
            throws Exception {
        TestNames names = TestNames.of(info);
        try (PipelineFixture fixture = PipelineFixture.start(
                kafka,
                names,
                stateDir,
                SimulatorOptions.builder().profile("h100-qwen2.5-32b").failOnMarker("MAPFAIL"),
                c -> c,
                EnumSet.of(Stage.JOB_COMPILER, Stage.COALESCER, Stage.ASSEMBLER, Stage.WORKFLOW, Stage.TOOLS))) {
            BatchDefinition plan = new BatchDefinition(
                    "",
                    "Plan 20 research questions about {topic}.",
                    List.of("{\"topic\":\"KV cache reuse\"}"),
                    List.of(),
                    PLAN_SCHEMA,
                    "sim-model",
                    2,
                    512);
            BatchDefinition map = new BatchDefinition(
                    "",
                    "Topic: {item}\nAnswer this research question.",
                    List.of(),
                    List.of(),
                    PipelineFixture.SCHEMA,
                    "sim-model",
                    2,
                    256);
            BatchDefinition reduce = new BatchDefinition(
                    "",
                    "{succeeded} answers succeeded and {failed} failed:\n{results}",
                    List.of(),
                    List.of(),
                    "{\"type\":\"object\",\"required\":[\"survey\"],\"properties\":{\"survey\":{\"type\":\"string\"}}}",
                    "sim-model",
                    2,
                    256);

            Process first =
                    WorkerProcess.startInference(kafka, names, fixture.simulator.baseUrl(), stateDir.resolve("worker"));
            BatchClient.Workflow workflow = fixture.client.submitWorkflow("survey", plan, map, reduce);
            await().atMost(Duration.ofMinutes(2))
                    .until(() ->
                            fixture.client.finalResults(workflow.mapBatchId()).size() >= 4);
            first.destroyForcibly();
            assertThat(first.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(fixture.client.finalResults(workflow.mapBatchId())).hasSizeLessThan(20);

            Process second =
                    WorkerProcess.startInference(kafka, names, fixture.simulator.baseUrl(), stateDir.resolve("worker"));
            try {
                AgentResult reduced = fixture.client
                        .await(List.of(workflow.reduceJobId()), r -> {}, Duration.ofMinutes(3))
                        .get(0);

                assertThat(reduced.getStatus()).isEqualTo(JobStatus.SUCCEEDED);
                Map<String, AgentResult> mapped = fixture.client.finalResults(workflow.mapBatchId());
                assertThat(mapped).hasSize(20);
                assertThat(mapped.values().stream().filter(r -> r.getStatus() == JobStatus.SUCCEEDED))
                        .hasSize(15);
                assertThat(mapped.values().stream().filter(r -> r.getStatus() == JobStatus.FAILED))
                        .hasSize(5)
                        .allSatisfy(r -> assertThat(r.getError().getReason()).isEqualTo(ErrorReason.ENGINE_ERROR));
                List<AgentJob> reduceJobs = fixture.client.jobs().stream()
                        .filter(job -> job.getBatchId().equals(workflow.reduceBatchId()))
                        .toList();
                assertThat(reduceJobs).as("the reduce job is submitted once").hasSize(1);
                JsonNode input = JSON.readTree(reduceJobs.get(0).getInputJson());
                assertThat(input.path("succeeded").asInt()).isEqualTo(15);
                assertThat(input.path("failed").asInt()).isEqualTo(5);
                assertThat(input.path("results")).hasSize(20);
            } finally {
                second.destroyForcibly();
                second.waitFor(30, TimeUnit.SECONDS);
            }
        }
    }
}
