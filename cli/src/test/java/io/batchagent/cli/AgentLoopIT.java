package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import io.batchagent.events.ToolRequest;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolSpec;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/** The agent loop end to end on a real broker, with the engine simulator and real tool workers. */
@WithKafka
class AgentLoopIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TEMPLATE = "Topic: {topic}\nQuery: {query}\nItem: {id}";

    @TempDir
    Path stateDir;

    private static List<String> inputs(int n, int distinctQueries) {
        return IntStream.range(0, n)
                .mapToObj(i -> String.format(
                        "{\"topic\":\"topic-%d\",\"query\":\"context for topic-%d\",\"id\":%d}",
                        i % distinctQueries, i % distinctQueries, i))
                .toList();
    }

    @Test
    void shouldGiveEveryAgentOfAHundredAgentTwoTurnBatchOneSucceededResult(KafkaCluster kafka, TestInfo info)
            throws Exception {
        try (PipelineFixture fixture = PipelineFixture.start(
                kafka,
                TestNames.of(info),
                stateDir,
                SimulatorOptions.builder().profile("instant"),
                c -> c.withToolOptions(Map.of("sim_search.latency.ms", "50")))) {
            BatchDefinition definition = PipelineFixture.definition(
                    "You are a test agent.", TEMPLATE, inputs(100, 10), List.of(PipelineFixture.simSearch(10_000)), 3);

            BatchSummary summary = fixture.run("hundred", definition, Duration.ofMinutes(3));

            assertThat(summary.results()).hasSize(100);
            assertThat(summary.results()).extracting(AgentResult::getStatus).containsOnly(JobStatus.SUCCEEDED);
            assertThat(summary.results()).extracting(AgentResult::getTurns).containsOnly(2);
            assertThat(summary.results())
                    .extracting(AgentResult::getToolCallsRequested)
                    .containsOnly(1);
            for (AgentResult result : summary.results()) {
                String expectedTopic = "topic-" + (result.getIndex() % 10);
                assertThat(JSON.readTree(result.getOutputJson()).path("topic").asText())
                        .isEqualTo(expectedTopic);
                assertThat(result.getUsage().getModelCalls()).isEqualTo(2);
                assertThat(result.getUsage().getPromptTokens()).isPositive();
            }
            assertThat(summary.results()).extracting(AgentResult::getJobId).doesNotHaveDuplicates();
            assertThat(summary.toolExecutions()).isBetween(10L, 100L);
        }
    }

    @Test
    void shouldReleaseTheInferenceSlotWhileAnAgentWaitsForItsTool(KafkaCluster kafka, TestInfo info) throws Exception {
        int agents = 48;
        int maxInflight = 4;
        GatedTool.close();
        try (PipelineFixture fixture = PipelineFixture.start(
                kafka,
                TestNames.of(info),
                stateDir,
                SimulatorOptions.builder().profile("instant").captureRequests(true),
                c -> c.withMaxInflight(maxInflight))) {
            BatchDefinition definition = PipelineFixture.definition(
                    "You are a test agent.", TEMPLATE, inputs(agents, agents), List.of(GatedTool.spec(300_000)), 3);

            BatchClient.Submission submission = fixture.client.submit("slots", definition);

            // Every tool call is held at the gate. A loop that kept its slot through the tool wait
            // would stop after maxInflight first turns; a releasing one lets every agent reach the engine.
            await().atMost(Duration.ofMinutes(2)).until(() -> firstTurnCalls(fixture) == agents);
            assertThat(GatedTool.finished())
                    .as("tool calls answered while the first turns ran")
                    .isZero();
            assertThat(fixture.simulator.stats().peakInFlight()).isLessThanOrEqualTo(maxInflight);

            GatedTool.open();
            List<AgentResult> results = fixture.client.await(submission.jobIds(), r -> {}, Duration.ofMinutes(2));

            assertThat(results).extracting(AgentResult::getStatus).containsOnly(JobStatus.SUCCEEDED);
            assertThat(results).extracting(AgentResult::getTurns).containsOnly(2);
            assertThat(GatedTool.finished()).isEqualTo(agents);
            assertThat(fixture.simulator.stats().peakInFlight()).isLessThanOrEqualTo(maxInflight);
        } finally {
            GatedTool.open();
        }
    }

    /** The agents' first-turn model calls the engine received: streamed (warm-ups are not) and with no tool message yet. */
    private static long firstTurnCalls(PipelineFixture fixture) {
        return fixture.simulator.capturedRequestBodies().stream()
                .filter(body -> body.contains("\"stream\":true") && !body.contains("\"role\":\"tool\""))
                .count();
    }

    @Test
    void shouldSendEveryAgentsRequestWithAByteIdenticalSharedPrefix(KafkaCluster kafka, TestInfo info)
            throws Exception {
        try (PipelineFixture fixture = PipelineFixture.start(
                kafka,
                TestNames.of(info),
                stateDir,
                SimulatorOptions.builder().profile("instant").captureRequests(true),
                c -> c.withToolOptions(Map.of("sim_search.latency.ms", "20")))) {
            String system = "You are a test agent. " + "Shared context. ".repeat(200);
            BatchDefinition definition = PipelineFixture.definition(
                    system, TEMPLATE, inputs(12, 12), List.of(PipelineFixture.simSearch(10_000)), 3);

            fixture.run("prefix", definition, Duration.ofMinutes(2));

            // The agents' calls stream; warm-up and probe calls do not.
            List<String> bodies = fixture.simulator.capturedRequestBodies().stream()
                    .filter(body -> body.contains("\"stream\":true"))
                    .toList();
            assertThat(bodies).hasSize(24);
            String first = bodies.get(0);
            int sharedEnd = first.indexOf("{\"role\":\"user\"");
            assertThat(sharedEnd).isPositive();
            String shared = first.substring(0, sharedEnd);
            assertThat(shared)
                    .contains("Shared context.")
                    .contains("sim_search")
                    .contains("JSON Schema")
                    .doesNotContain("topic-");
            assertThat(bodies).allSatisfy(body -> assertThat(body).startsWith(shared));
        }
    }

    @Test
    void shouldRunEachDistinctToolCallOnceAlsoWhenDuplicatesArriveAfterItStarted(KafkaCluster kafka, TestInfo info)
            throws Exception {
        // W1's shape: 20 papers over 9 topics; the query depends only on the topic.
        int[] papersPerTopic = {2, 2, 2, 2, 2, 1, 4, 2, 3};
        List<String> inputs = new ArrayList<>();
        for (int topic = 0; topic < papersPerTopic.length; topic++) {
            for (int p = 0; p < papersPerTopic[topic]; p++) {
                inputs.add(String.format(
                        "{\"topic\":\"topic-%d\",\"query\":\"context for topic-%d\",\"id\":%d}",
                        topic, topic, inputs.size()));
            }
        }
        try (PipelineFixture fixture = PipelineFixture.start(
                kafka,
                TestNames.of(info),
                stateDir,
                SimulatorOptions.builder().profile("h100-qwen2.5-32b"),
                c -> c.withMaxInflight(4).withToolOptions(Map.of("sim_search.latency.ms", "2500")))) {
            // Cacheable, as W1's search is: a duplicate arriving after the execution finished is a cache hit.
            ToolSpec search = PipelineFixture.simSearch(20_000);
            search.setCacheable(true);
            search.setCacheTtlMs(60_000);
            BatchDefinition definition =
                    PipelineFixture.definition("You are a test agent.", TEMPLATE, inputs, List.of(search), 3);

            BatchSummary summary = fixture.run("coalesce", definition, Duration.ofMinutes(2));

            assertThat(summary.results()).extracting(AgentResult::getStatus).containsOnly(JobStatus.SUCCEEDED);
            assertThat(summary.toolCallsRequested()).isEqualTo(20);
            assertThat(fixture.pipeline.toolExecutions("sim_search")).isEqualTo(9);
            List<ToolResult> executed =
                    TopicContents.read(
                                    fixture.config.kafkaConfig(),
                                    fixture.pipeline.topics().toolResults())
                            .stream()
                            .filter(ToolResult::getExecuted)
                            .toList();
            List<ToolRequest> requests = TopicContents.read(
                    fixture.config.kafkaConfig(), fixture.pipeline.topics().toolRequests());
            assertThat(executed).hasSize(9);
            Map<String, ToolResult> byHash =
                    executed.stream().collect(Collectors.toMap(ToolResult::getCallHash, r -> r));
            long lateDuplicates = requests.stream()
                    .filter(r ->
                            r.getRequestedAtMs() > byHash.get(r.getCallHash()).getStartedAtMs()
                                    && r.getRequestedAtMs()
                                            < byHash.get(r.getCallHash()).getFinishedAtMs())
                    .count();
            assertThat(lateDuplicates)
                    .as("requests that arrived while their call was already executing")
                    .isPositive();
        }
    }
}
