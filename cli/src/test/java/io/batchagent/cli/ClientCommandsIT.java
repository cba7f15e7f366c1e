package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.client.BatchStatus;
import io.batchagent.client.ClusterSettings;
import io.batchagent.events.JobStatus;
import io.batchagent.sdk.AgentOutcome;
import io.batchagent.sdk.AgentSpec;
import io.batchagent.sdk.BatchAgent;
import io.batchagent.sdk.OutputSchema;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The clients that run no stage: {@code submit}, {@code results}, {@code status} and
 * {@code BatchAgent.connect}, against workers that run elsewhere (here: a pipeline in the test's JVM,
 * on the shared broker).
 */
@WithKafka
class ClientCommandsIT {

    private static final ObjectMapper JSON = new ObjectMapper();

    record Answer(String answer, String topic) {}

    @TempDir
    Path dir;

    private record Outcome(int exitCode, String out, String err) {}

    private static Outcome execute(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine commandLine = BatchAgentCommand.commandLine();
        commandLine.setOut(new PrintWriter(out, true));
        commandLine.setErr(new PrintWriter(err, true));
        int exitCode = commandLine.execute(args);
        return new Outcome(exitCode, out.toString(), err.toString());
    }

    private static PipelineFixture workers(KafkaCluster kafka, TestNames names, Path stateDir) {
        return PipelineFixture.start(
                kafka,
                names,
                stateDir,
                SimulatorOptions.builder().profile("instant"),
                c -> c.withToolOptions(Map.of("sim_search.latency.ms", "20")));
    }

    private Path batchDirectory(int jobs) throws IOException {
        Path batch = Files.createDirectories(dir.resolve("batch"));
        Files.writeString(batch.resolve("task.txt"), "Topic: {topic}\nQuery: {query}");
        Files.write(
                batch.resolve("inputs.jsonl"),
                IntStream.range(0, jobs)
                        .mapToObj(i -> "{\"topic\":\"t" + i + "\",\"query\":\"q" + i + "\"}")
                        .toList());
        Files.writeString(batch.resolve("schema.json"), PipelineFixture.SCHEMA);
        Files.writeString(
                batch.resolve("tools.json"),
                "[{\"name\": \"sim_search\", \"parameters\": {\"type\": \"object\", "
                        + "\"properties\": {\"query\": {\"type\": \"string\"}}, \"required\": [\"query\"]}}]");
        return batch;
    }

    @Test
    @SuppressWarnings("try") // the workers run for the test's length; it does not call them
    void shouldSubmitThenPrintEveryResultAndTheStatusOfABatchWhoseWorkersRunElsewhere(KafkaCluster kafka, TestInfo info)
            throws Exception {
        TestNames names = TestNames.of(info);
        String[] cluster = {"--bootstrap-servers", kafka.bootstrapServers(), "--topic-prefix", names.topicPrefix()};
        try (PipelineFixture ignored = workers(kafka, names, dir.resolve("state"))) {
            List<String> submit = new ArrayList<>(
                    List.of("submit", "--batch", batchDirectory(3).toString(), "--max-turns", "3"));
            submit.addAll(List.of(cluster));

            Outcome submitted = execute(submit.toArray(String[]::new));

            assertThat(submitted.exitCode()).as(submitted.err()).isZero();
            String batchId = submitted.out().strip();
            assertThat(batchId).startsWith("batch-").doesNotContain("\n");

            Path output = dir.resolve("results.jsonl");
            List<String> resultsArgs =
                    new ArrayList<>(List.of("results", batchId, "--output", output.toString(), "--timeout", "2m"));
            resultsArgs.addAll(List.of(cluster));
            Outcome results = execute(resultsArgs.toArray(String[]::new));

            assertThat(results.exitCode()).as(results.err()).isZero();
            List<JsonNode> lines = new ArrayList<>();
            for (String line : Files.readAllLines(output)) {
                lines.add(JSON.readTree(line));
            }
            assertThat(lines).extracting(line -> line.path("index").asLong()).containsExactlyInAnyOrder(0L, 1L, 2L);
            assertThat(lines).allSatisfy(line -> {
                assertThat(line.path("batch_id").asText()).isEqualTo(batchId);
                assertThat(line.path("status").asText()).isEqualTo("SUCCEEDED");
            });

            List<String> statusArgs = new ArrayList<>(List.of("status", batchId));
            statusArgs.addAll(List.of(cluster));
            Outcome status = execute(statusArgs.toArray(String[]::new));

            assertThat(status.exitCode()).as(status.err()).isZero();
            long toolCalls = lines.stream()
                    .mapToLong(line -> line.path("tool_calls_requested").asLong())
                    .sum();
            assertThat(status.out())
                    .contains("batch " + batchId
                            + ": complete, 3 jobs, 3 finished (succeeded 3, failed 0, cancelled 0), 0 pending")
                    .contains("in flight: 0 waiting on or in a model call, 0 waiting on tools")
                    .contains("tool sim_search: requested " + toolCalls + ",")
                    .containsPattern("last progress: \\d+ s ago");
        }
    }

    @Test
    @SuppressWarnings("try") // the workers run for the test's length; it does not call them
    void shouldSayInOneLineThatABatchDoesNotExist(KafkaCluster kafka, TestInfo info) {
        TestNames names = TestNames.of(info);
        try (PipelineFixture ignored = workers(kafka, names, dir.resolve("state"))) {
            Outcome results = execute(
                    "results",
                    "no-such-batch",
                    "--bootstrap-servers",
                    kafka.bootstrapServers(),
                    "--topic-prefix",
                    names.topicPrefix());

            assertThat(results.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
            assertThat(results.err().strip())
                    .startsWith("batchagent results: no batch 'no-such-batch' on the cluster")
                    .doesNotContain("\n");
        }
    }

    @Test
    void shouldSayToStartTheWorkersWhenSubmittingBeforeTheyCreatedTheTopics(KafkaCluster kafka, TestInfo info)
            throws Exception {
        Outcome submitted = execute(
                "submit",
                "--batch",
                batchDirectory(1).toString(),
                "--bootstrap-servers",
                kafka.bootstrapServers(),
                "--topic-prefix",
                TestNames.of(info).topicPrefix());

        assertThat(submitted.exitCode()).isEqualTo(BatchAgentCommand.EXIT_ERROR);
        assertThat(submitted.err().strip())
                .contains("batch-specs does not exist")
                .contains("start the workers first")
                .doesNotContain("\n");
    }

    @Test
    @SuppressWarnings("try") // the workers run for the test's length; it does not call them
    void shouldSubmitStreamAndReportABatchThroughAConnectedSdkThatRunsNoStage(KafkaCluster kafka, TestInfo info) {
        TestNames names = TestNames.of(info);
        try (PipelineFixture ignored = workers(kafka, names, dir.resolve("state"));
                BatchAgent agent = BatchAgent.connect(ClusterSettings.of(kafka.bootstrapServers())
                        .withTopicPrefix(names.topicPrefix())
                        .withTimeout(java.time.Duration.ofMinutes(2)))) {
            AgentSpec<Answer> spec = AgentSpec.builder(OutputSchema.of(Answer.class))
                    .task("Topic: {topic}\nQuery: {query}")
                    .inputs(IntStream.range(0, 3)
                            .mapToObj(i -> Map.of("topic", "t" + i, "query", "q" + i))
                            .toList())
                    .build();

            String batchId = agent.submit(spec).batchId();
            List<AgentOutcome<Answer>> streamed =
                    agent.stream(batchId, OutputSchema.of(Answer.class)).toList();
            BatchStatus status = agent.status(batchId);

            assertThat(streamed).extracting(AgentOutcome::index).containsExactlyInAnyOrder(0L, 1L, 2L);
            assertThat(streamed)
                    .allSatisfy(outcome -> assertThat(outcome.output().topic()).isNotBlank());
            assertThat(status.complete()).isTrue();
            assertThat(status.finished()).containsEntry(JobStatus.SUCCEEDED, 3L);
            assertThat(agent.results(batchId, OutputSchema.of(Answer.class)))
                    .extracting(AgentOutcome::index)
                    .containsExactly(0L, 1L, 2L);
        }
    }
}
