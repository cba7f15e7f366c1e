package io.batchagent.sdk;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.cli.BatchRunner;
import io.batchagent.cli.EmbeddedAgents;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.events.ToolSpec;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.simulator.ToolCallRule;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/** The Java SDK end to end on a real broker and the engine simulator. */
@WithKafka
class SdkIT {

    private static final ObjectMapper JSON = new ObjectMapper();

    enum Verdict {
        ACCEPT,
        REJECT,
        REVISE
    }

    record Author(String name, int order) {}

    record Review(String title, Verdict verdict, List<Author> authors, Optional<String> note, double score) {}

    record Answer(String topic, String answer) {}

    @TempDir
    Path dataDir;

    private BatchAgent start(KafkaCluster kafka, TestInfo info, EngineSimulator engine) {
        return EmbeddedAgents.start(new BatchRunner.Settings(
                kafka.bootstrapServers(),
                dataDir,
                engine.baseUrl(),
                null,
                null,
                null,
                8,
                Map.of("sim_search.latency.ms", "1000"),
                TestNames.of(info).topicPrefix(),
                Duration.ofMinutes(2)));
    }

    private static ToolSpec search() {
        return ToolSpec.newBuilder()
                .setName("sim_search")
                .setDescription("SIMULATED search")
                .setParametersJson(
                        "{\"properties\":{\"query\":{\"type\":\"string\"}},\"required\":[\"query\"],\"type\":\"object\"}")
                .setTimeoutMs(10_000)
                .build();
    }

    @Test
    void shouldReturnTypedOutputsWithNestedRecordsListsEnumsAndOptionalsInInputOrder(
            KafkaCluster kafka, TestInfo info) {
        try (EngineSimulator engine = EngineSimulator.start(
                        SimulatorOptions.builder().profile("instant").build());
                BatchAgent agent = start(kafka, info, engine)) {
            AgentSpec<Review> spec = AgentSpec.builder(OutputSchema.of(Review.class))
                    .task("Title: {title}\nReview this paper.")
                    .inputs(IntStream.range(0, 6)
                            .mapToObj(i -> Map.of("title", "Paper " + i))
                            .toList())
                    .build();

            List<AgentOutcome<Review>> outcomes = agent.run(spec);

            assertThat(outcomes).extracting(AgentOutcome::index).containsExactly(0L, 1L, 2L, 3L, 4L, 5L);
            assertThat(outcomes).allSatisfy(outcome -> {
                assertThat(outcome.status()).isEqualTo(JobStatus.SUCCEEDED);
                assertThat(outcome.output().title()).isEqualTo("Paper " + outcome.index());
                assertThat(outcome.output().verdict()).isNotNull();
                assertThat(outcome.output().authors())
                        .isNotEmpty()
                        .allSatisfy(a -> assertThat(a.name()).isNotBlank());
                assertThat(outcome.output().note()).isNotNull();
            });
        }
    }

    @Test
    void shouldStreamTheFastJobsResultBeforeTheSlowJobs(KafkaCluster kafka, TestInfo info) {
        ToolCallRule fastAnswersDirectly = context -> context.lastUserMessage().contains("FAST")
                ? Optional.empty()
                : ToolCallRule.defaultRule().choose(context);
        try (EngineSimulator engine = EngineSimulator.start(SimulatorOptions.builder()
                        .profile("instant")
                        .toolCallRule(fastAnswersDirectly)
                        .build());
                BatchAgent agent = start(kafka, info, engine)) {
            AgentSpec<Answer> spec = AgentSpec.builder(OutputSchema.of(Answer.class))
                    .task("Topic: {topic}\nQuery: {topic}")
                    .tool(search())
                    .inputs(List.of(Map.of("topic", "slow one"), Map.of("topic", "FAST one")))
                    .build();

            List<AgentOutcome<Answer>> streamed = agent.stream(spec).toList();

            assertThat(streamed).extracting(AgentOutcome::index).containsExactly(1L, 0L);
            assertThat(streamed).extracting(AgentOutcome::turns).containsExactly(1, 2);
        }
    }

    @Test
    void shouldStateAVariableSharedByEveryInputOnceInTheSharedPrefix(KafkaCluster kafka, TestInfo info)
            throws Exception {
        try (EngineSimulator engine = EngineSimulator.start(SimulatorOptions.builder()
                        .profile("instant")
                        .captureRequests(true)
                        .build());
                BatchAgent agent = start(kafka, info, engine)) {
            String corpus = "the shared corpus text " + "lorem ".repeat(50);
            AgentSpec<Answer> spec = AgentSpec.builder(OutputSchema.of(Answer.class))
                    .task("Corpus: {corpus}\nTopic: {topic}")
                    .inputs(IntStream.range(0, 4)
                            .mapToObj(i -> Map.of("corpus", corpus, "topic", "t" + i))
                            .toList())
                    .build();

            assertThat(agent.run(spec)).allMatch(AgentOutcome::succeeded);

            // The agents' calls stream; the warm-up call does not (it holds the prefix, no agent input).
            List<String> agentCalls = engine.capturedRequestBodies().stream()
                    .filter(b -> b.contains("\"stream\":true"))
                    .toList();
            assertThat(agentCalls).hasSize(4).allSatisfy(body -> {
                JsonNode messages = JSON.readTree(body).path("messages");
                assertThat(messages.get(0).path("content").asText()).contains("corpus: " + corpus);
                assertThat(messages.get(1).path("content").asText())
                        .doesNotContain(corpus)
                        .contains("(the shared corpus given in the system prompt)");
            });
        }
    }

    @Test
    void shouldRunOnlyUnfinishedOrChangedJobsWhenABatchIsRunAgain(KafkaCluster kafka, TestInfo info) {
        try (EngineSimulator engine = EngineSimulator.start(
                        SimulatorOptions.builder().profile("instant").build());
                BatchAgent agent = start(kafka, info, engine)) {
            AgentSpec.Builder<Answer> builder = AgentSpec.builder(OutputSchema.of(Answer.class))
                    .task("Topic: {topic}")
                    .batchId("resumable");
            List<AgentOutcome<Answer>> first =
                    agent.run(builder.inputs(List.of(Map.of("topic", "a"), Map.of("topic", "b"), Map.of("topic", "c")))
                            .build());
            long requestsAfterFirst = engine.stats().requests();

            AgentSpec<Answer> changed = AgentSpec.builder(OutputSchema.of(Answer.class))
                    .task("Topic: {topic}")
                    .batchId("resumable")
                    .inputs(List.of(Map.of("topic", "a"), Map.of("topic", "b"), Map.of("topic", "c changed")))
                    .build();
            List<AgentOutcome<Answer>> second = agent.run(changed);

            assertThat(first).allMatch(AgentOutcome::succeeded);
            assertThat(engine.stats().requests() - requestsAfterFirst).isEqualTo(1);
            assertThat(second.get(2).output().topic()).isEqualTo("c changed");
            assertThat(second.subList(0, 2))
                    .extracting(AgentOutcome::jobId)
                    .containsExactlyElementsOf(first.subList(0, 2).stream()
                            .map(AgentOutcome::jobId)
                            .toList());
        }
    }

    @Test
    void shouldReduceFifteenSucceededAndFiveFailedMapResults(KafkaCluster kafka, TestInfo info) throws Exception {
        try (EngineSimulator engine = EngineSimulator.start(SimulatorOptions.builder()
                        .profile("instant")
                        .failOnMarker("MAPFAIL")
                        .build());
                BatchAgent agent = start(kafka, info, engine)) {
            MapReduceOutcome<JsonNode, Answer, JsonNode> outcome =
                    agent.runWithMapReduce(MapReduceSpecs.plan(), MapReduceSpecs.map(), MapReduceSpecs.reduce());

            assertThat(outcome.plan().succeeded()).isTrue();
            assertThat(outcome.map()).hasSize(20);
            assertThat(outcome.map().stream().filter(AgentOutcome::succeeded)).hasSize(15);
            assertThat(outcome.map().stream().filter(o -> !o.succeeded()))
                    .hasSize(5)
                    .allSatisfy(o -> assertThat(o.errorReason()).isEqualTo(ErrorReason.ENGINE_ERROR));
            assertThat(outcome.reduce().succeeded()).isTrue();
            MapReduceSpecs.assertReducerSaw(agent.client(), outcome);
        }
    }

    @Test
    void shouldSucceedAfterOneRepairTurnWhenTheFirstAnswerIsInvalid(KafkaCluster kafka, TestInfo info) {
        try (EngineSimulator engine = EngineSimulator.start(SimulatorOptions.builder()
                        .profile("instant")
                        .invalidAnswers(1)
                        .build());
                BatchAgent agent = start(kafka, info, engine)) {
            AgentSpec<Answer> spec = AgentSpec.builder(OutputSchema.of(Answer.class))
                    .task("Topic: {topic}")
                    .inputs(List.of(Map.of("topic", "a"), Map.of("topic", "b")))
                    .build();

            List<AgentOutcome<Answer>> outcomes = agent.run(spec);

            assertThat(outcomes).allSatisfy(outcome -> {
                assertThat(outcome.status()).isEqualTo(JobStatus.SUCCEEDED);
                assertThat(outcome.turns()).isEqualTo(2);
                assertThat(outcome.usage().getModelCalls()).isEqualTo(2);
            });
            assertThat(outcomes).extracting(o -> o.output().topic()).containsExactly("a", "b");
        }
    }

    @Test
    void shouldFailWithTheValidationErrorsAndTheRawTextWhenRepairsAreExhausted(KafkaCluster kafka, TestInfo info) {
        try (EngineSimulator engine = EngineSimulator.start(SimulatorOptions.builder()
                        .profile("instant")
                        .invalidAnswers(5)
                        .build());
                BatchAgent agent = start(kafka, info, engine)) {
            AgentSpec<Answer> spec = AgentSpec.builder(OutputSchema.of(Answer.class))
                    .task("Topic: {topic}")
                    .maxRepairs(2)
                    .inputs(List.of(Map.of("topic", "a")))
                    .build();

            AgentOutcome<Answer> outcome = agent.run(spec).get(0);

            assertThat(outcome.status()).isEqualTo(JobStatus.FAILED);
            assertThat(outcome.errorReason()).isEqualTo(ErrorReason.INVALID_OUTPUT);
            assertThat(outcome.errorMessage()).contains("required").contains("still invalid after 2 repair turns");
            assertThat(outcome.rawOutput()).contains("simulated_wrong_answer");
            assertThat(outcome.turns()).isEqualTo(3);
        }
    }

    @Test
    void shouldStartNoModelCallForACancelledBatch(KafkaCluster kafka, TestInfo info) {
        try (EngineSimulator engine = EngineSimulator.start(SimulatorOptions.builder()
                        .profile("instant")
                        .captureRequests(true)
                        .build());
                BatchAgent agent = EmbeddedAgents.start(new BatchRunner.Settings(
                        kafka.bootstrapServers(),
                        dataDir,
                        engine.baseUrl(),
                        null,
                        null,
                        null,
                        8,
                        Map.of("sim_search.latency.ms", "3000"),
                        TestNames.of(info).topicPrefix(),
                        Duration.ofMinutes(2)))) {
            AgentSpec<Answer> spec = AgentSpec.builder(OutputSchema.of(Answer.class))
                    .task("Topic: {topic}\nQuery: {topic}")
                    .tool(search())
                    .batchId("to-cancel")
                    .inputs(IntStream.range(0, 12)
                            .mapToObj(i -> Map.of("topic", "t" + i))
                            .toList())
                    .build();
            var submission = agent.client().submit(spec.batchId(), spec.definition());
            org.awaitility.Awaitility.await()
                    .atMost(Duration.ofSeconds(30))
                    .until(() -> agentCalls(engine).size() == 12);

            assertThat(agent.cancel("to-cancel")).isTrue();
            List<io.batchagent.events.AgentResult> results;
            try {
                results = agent.client().await(submission.jobIds(), r -> {}, Duration.ofMinutes(1));
            } catch (java.util.concurrent.TimeoutException e) {
                throw new AssertionError(e);
            }

            assertThat(results)
                    .extracting(io.batchagent.events.AgentResult::getStatus)
                    .containsOnly(JobStatus.CANCELLED);
            assertThat(agentCalls(engine))
                    .as("model calls: only the 12 first turns, none after the cancel")
                    .hasSize(12);
        }
    }

    private static List<String> agentCalls(EngineSimulator engine) {
        return engine.capturedRequestBodies().stream()
                .filter(b -> b.contains("\"stream\":true"))
                .toList();
    }
}
