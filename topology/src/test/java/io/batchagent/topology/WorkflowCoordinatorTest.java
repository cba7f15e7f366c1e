package io.batchagent.topology;

import static io.batchagent.topology.TopologyFixtures.TOPICS;
import static io.batchagent.topology.TopologyFixtures.input;
import static io.batchagent.topology.TopologyFixtures.output;
import static io.batchagent.topology.TopologyFixtures.spec;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobError;
import io.batchagent.events.JobStatus;
import io.batchagent.events.StageKind;
import io.batchagent.events.Timings;
import io.batchagent.events.Usage;
import io.batchagent.events.WorkflowStage;
import io.batchagent.events.state.MapOutcome;
import io.batchagent.events.state.WorkflowProgress;
import java.nio.file.Path;
import java.util.List;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkflowCoordinatorTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path stateDir;

    private TopologyTestDriver driver;
    private TestInputTopic<String, AgentResult> results;
    private TestOutputTopic<String, AgentJob> jobs;
    private TestOutputTopic<String, AgentResult> finalResults;

    @BeforeEach
    void setUp() {
        driver = new TopologyTestDriver(
                WorkflowCoordinator.build(TOPICS), TopologyFixtures.props("workflow-test", stateDir));
        TestInputTopic<String, BatchSpec> specs = input(driver, TOPICS.batchSpecs());
        for (StageKind kind : StageKind.values()) {
            BatchSpec stageSpec = spec("wf-" + kind.name().toLowerCase(), "{item}", 3);
            stageSpec.setWorkflow(new WorkflowStage("wf", kind, "wf-map", "wf-reduce", "items", "item"));
            specs.pipeInput(stageSpec.getBatchId(), stageSpec);
        }
        results = input(driver, TOPICS.results());
        jobs = output(driver, TOPICS.agentJobs());
        finalResults = output(driver, TOPICS.results());
    }

    @AfterEach
    void tearDown() {
        driver.close();
    }

    private static AgentResult result(String batchId, long index, JobStatus status, String output) {
        return AgentResult.newBuilder()
                .setJobId(WorkflowCoordinator.jobId(batchId, index))
                .setBatchId(batchId)
                .setIndex(index)
                .setStatus(status)
                .setOutputJson(output)
                .setError(
                        status == JobStatus.SUCCEEDED
                                ? null
                                : new JobError(ErrorReason.ENGINE_ERROR, "engine said 500"))
                .setTurns(1)
                .setUsage(new Usage())
                .setTimings(new Timings())
                .setFinishedAtMs(1L)
                .build();
    }

    private void send(AgentResult result) {
        results.pipeInput(result.getJobId(), result);
    }

    @Test
    void shouldFanOutThePlanAndReduceOnceWhenEveryMapJobIsFinal() throws Exception {
        send(result("wf-plan", 0, JobStatus.SUCCEEDED, "{\"items\":[\"a\",\"b\",\"c\"]}"));

        List<AgentJob> mapJobs = jobs.readValuesToList();
        assertThat(mapJobs).extracting(AgentJob::getBatchId).containsOnly("wf-map");
        assertThat(mapJobs)
                .extracting(AgentJob::getInputJson)
                .containsExactly("{\"item\":\"a\"}", "{\"item\":\"b\"}", "{\"item\":\"c\"}");

        send(result("wf-map", 2, JobStatus.SUCCEEDED, "{\"answer\":\"C\"}"));
        send(result("wf-map", 0, JobStatus.SUCCEEDED, "{\"answer\":\"A\"}"));
        send(result("wf-map", 0, JobStatus.SUCCEEDED, "{\"answer\":\"A\"}")); // a replay changes nothing
        assertThat(jobs.isEmpty()).isTrue();
        send(result("wf-map", 1, JobStatus.FAILED, null));

        AgentJob reduce = jobs.readValue();
        assertThat(reduce.getJobId()).isEqualTo(WorkflowCoordinator.reduceJobId("wf-reduce"));
        JsonNode input = JSON.readTree(reduce.getInputJson());
        assertThat(input.path("succeeded").asInt()).isEqualTo(2);
        assertThat(input.path("failed").asInt()).isEqualTo(1);
        assertThat(input.path("results")).hasSize(3);
        assertThat(input.path("results").get(0).path("output").path("answer").asText())
                .isEqualTo("A");
        assertThat(input.path("results").get(1).path("status").asText()).isEqualTo("FAILED");
        assertThat(input.path("results").get(1).path("error").asText()).contains("engine said 500");

        send(result("wf-map", 1, JobStatus.FAILED, null));
        send(result("wf-plan", 0, JobStatus.SUCCEEDED, "{\"items\":[\"a\",\"b\",\"c\"]}"));
        assertThat(jobs.isEmpty()).isTrue();
    }

    @Test
    void shouldEndTheWorkflowWhenThePlanFails() {
        send(result("wf-plan", 0, JobStatus.FAILED, null));

        assertThat(jobs.isEmpty()).isTrue();
        AgentResult reduce = finalResults.readValue();
        assertThat(reduce.getJobId()).isEqualTo(WorkflowCoordinator.reduceJobId("wf-reduce"));
        assertThat(reduce.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(reduce.getError().getMessage()).contains("the plan failed").contains("engine said 500");
    }

    @Test
    void shouldEndTheWorkflowWhenThePlanHasNoItems() {
        send(result("wf-plan", 0, JobStatus.SUCCEEDED, "{\"questions\":[]}"));

        assertThat(finalResults.readValue().getError().getMessage()).contains("no array 'items'");
    }

    @Test
    void shouldReduceAtOnceWhenThePlanHasNoItemsToMap() throws Exception {
        send(result("wf-plan", 0, JobStatus.SUCCEEDED, "{\"items\":[]}"));

        AgentJob reduce = jobs.readValue();
        assertThat(JSON.readTree(reduce.getInputJson()).path("results")).isEmpty();
    }

    @Test
    void shouldReduceTenThousandMapJobsWithEveryOneInTheInputAndNoRecordOverTheBudget() throws Exception {
        int n = 10_000;
        StringBuilder items = new StringBuilder("{\"items\":[");
        for (int i = 0; i < n; i++) {
            items.append(i == 0 ? "" : ",")
                    .append('"')
                    .append("item-")
                    .append(i)
                    .append('"');
        }
        send(result("wf-plan", 0, JobStatus.SUCCEEDED, items.append("]}").toString()));
        assertThat(jobs.readValuesToList()).hasSize(n);
        TestOutputTopic<byte[], byte[]> rawJobs = driver.createOutputTopic(
                TOPICS.agentJobs().name(), new ByteArrayDeserializer(), new ByteArrayDeserializer());

        String filler = "y".repeat(1_000);
        for (int i = 0; i < n; i++) {
            send(
                    i % 100 == 7
                            ? result("wf-map", i, JobStatus.FAILED, null)
                            : result(
                                    "wf-map", i, JobStatus.SUCCEEDED, "{\"n\":" + i + ",\"text\":\"" + filler + "\"}"));
        }

        List<byte[]> written = rawJobs.readValuesToList();
        assertThat(written).hasSize(1);
        int limit = TOPICS.limits().maxValueBytes();
        assertThat(written.get(0).length).isLessThanOrEqualTo(limit / WorkflowCoordinator.REDUCE_INPUT_SHARE + 1_024);
        AgentJob reduce = TOPICS.agentJobs()
                .valueSerde()
                .deserializer()
                .deserialize(TOPICS.agentJobs().name(), written.get(0));
        JsonNode input = JSON.readTree(reduce.getInputJson());
        assertThat(input.path("succeeded").asInt()).isEqualTo(n - n / 100);
        assertThat(input.path("failed").asInt()).isEqualTo(n / 100);
        assertThat(input.path("truncated").asInt()).isEqualTo(n - n / 100);
        assertThat(input.has("omitted")).isFalse();
        JsonNode results = input.path("results");
        assertThat(results).hasSize(n);
        for (int i = 0; i < n; i++) {
            JsonNode entry = results.get(i);
            assertThat(entry.path("index").asInt()).isEqualTo(i);
            if (i % 100 == 7) {
                assertThat(entry.path("status").asText()).isEqualTo("FAILED");
                assertThat(entry.path("error").asText()).contains("engine said 500");
            } else {
                assertThat(entry.path("output").asText()).startsWith("{\"n\":" + i + ",");
                assertThat(entry.path("output_truncated").asBoolean()).isTrue();
            }
        }

        KeyValueStore<String, WorkflowProgress> progress = driver.getKeyValueStore(WorkflowCoordinator.PROGRESS_STORE);
        byte[] state = TOPICS.serde(WorkflowProgress.class).serializer().serialize("changelog", progress.get("wf"));
        assertThat(state.length)
                .as("the progress value does not grow with the map jobs")
                .isLessThan(200);
    }

    @Test
    void shouldGiveEveryOutputWholeWhenTheyFit() throws Exception {
        send(result("wf-plan", 0, JobStatus.SUCCEEDED, "{\"items\":[\"a\",\"b\"]}"));
        jobs.readValuesToList();

        send(result("wf-map", 0, JobStatus.SUCCEEDED, "{\"answer\":\"" + "z".repeat(50_000) + "\"}"));
        send(result("wf-map", 1, JobStatus.SUCCEEDED, "{\"answer\":\"B\"}"));

        JsonNode input = JSON.readTree(jobs.readValue().getInputJson());
        assertThat(input.path("results").get(0).path("output").path("answer").asText())
                .hasSize(50_000);
        assertThat(input.has("truncated")).isFalse();
    }

    @Test
    void shouldCountAMapJobFailedWithoutAnIndexByItsJobId() throws Exception {
        send(result("wf-plan", 0, JobStatus.SUCCEEDED, "{\"items\":[\"a\",\"b\"]}"));
        jobs.readValuesToList();
        send(result("wf-map", 0, JobStatus.SUCCEEDED, "{\"answer\":\"A\"}"));

        AgentResult deadLettered = result("wf-map", 1, JobStatus.FAILED, null);
        deadLettered.setIndex(-1); // as a dead-letter handler writes it: it knows the job id and batch, not the index
        send(deadLettered);

        JsonNode input = JSON.readTree(jobs.readValue().getInputJson());
        assertThat(input.path("results").get(1).path("index").asInt()).isEqualTo(1);
        assertThat(input.path("failed").asInt()).isEqualTo(1);
    }

    @Test
    void shouldCarryOnAWorkflowWhoseOutcomesAnEarlierVersionKeptInline() throws Exception {
        send(result("wf-plan", 0, JobStatus.SUCCEEDED, "{\"items\":[\"a\",\"b\"]}"));
        jobs.readValuesToList();
        KeyValueStore<String, WorkflowProgress> progress = driver.getKeyValueStore(WorkflowCoordinator.PROGRESS_STORE);
        WorkflowProgress legacy = progress.get("wf");
        legacy.getOutcomes()
                .put(
                        WorkflowCoordinator.jobId("wf-map", 0),
                        new MapOutcome(0L, "SUCCEEDED", "{\"answer\":\"A\"}", null));
        progress.put("wf", legacy);

        send(result("wf-map", 1, JobStatus.SUCCEEDED, "{\"answer\":\"B\"}"));

        JsonNode input = JSON.readTree(jobs.readValue().getInputJson());
        assertThat(input.path("results")).hasSize(2);
        assertThat(input.path("results").get(0).path("output").path("answer").asText())
                .isEqualTo("A");
        assertThat(progress.get("wf").getOutcomes()).isEmpty();
    }
}
