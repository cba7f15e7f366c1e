package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.AgentResult;
import io.batchagent.schemas.Topics;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.simulator.ToolCallRule;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code batchagent run} on a real broker, as a user runs it: its output file is written as results
 * arrive and survives a killed run; a batch in which no job can progress ends with exit code 3 and
 * a report of what is unfinished; a rerun rewrites the file without duplicating a line.
 */
@WithKafka
class RunCommandIT {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private record Outcome(int exitCode, String out, String err) {}

    /** A batch directory whose jobs call the gated tool unless their input says {@code "tool": "no"}. */
    private Path batch(List<String> toolUse) throws IOException {
        Path batch = Files.createDirectories(dir.resolve("batch"));
        Files.writeString(batch.resolve("task.txt"), "Topic: {topic}\nQuery: {query}\nTool: {tool}");
        List<String> inputs = new ArrayList<>();
        for (int i = 0; i < toolUse.size(); i++) {
            inputs.add(String.format("{\"topic\":\"t%d\",\"query\":\"q%d\",\"tool\":\"%s\"}", i, i, toolUse.get(i)));
        }
        Files.write(batch.resolve("inputs.jsonl"), inputs);
        Files.writeString(batch.resolve("schema.json"), PipelineFixture.SCHEMA);
        Files.writeString(
                batch.resolve("tools.json"),
                "[{\"name\": \"" + GatedTool.NAME + "\", \"parameters\": {\"type\": "
                        + "\"object\", \"properties\": {\"query\": {\"type\": \"string\"}}, \"required\": [\"query\"]}, \"timeout_ms\": 300000}]");
        return batch;
    }

    private List<String> runArgs(
            KafkaCluster kafka, TestNames names, EngineSimulator engine, Path batch, Path output, String stallTimeout) {
        return List.of(
                "run",
                "--batch",
                batch.toString(),
                "--bootstrap-servers",
                kafka.bootstrapServers(),
                "--with-workers",
                "--topic-prefix",
                names.topicPrefix(),
                "--data-dir",
                dir.resolve("data").toString(),
                "--backend",
                engine.baseUrl(),
                "--output",
                output.toString(),
                "--stall-timeout",
                stallTimeout,
                "--progress",
                "plain");
    }

    private static Outcome runInProcess(List<String> args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine commandLine = BatchAgentCommand.commandLine();
        commandLine.setOut(new PrintWriter(out, true));
        commandLine.setErr(new PrintWriter(err, true));
        int exitCode = commandLine.execute(args.toArray(String[]::new));
        return new Outcome(exitCode, out.toString(), err.toString());
    }

    private static List<JsonNode> lines(Path file) throws IOException {
        List<JsonNode> lines = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            lines.add(JSON.readTree(line));
        }
        return lines;
    }

    private static List<String> jobIds(List<JsonNode> lines) {
        return lines.stream().map(line -> line.path("job_id").asText()).toList();
    }

    @Test
    void shouldKeepEveryResultThatArrivedInTheOutputFileWhenTheRunIsKilled(KafkaCluster kafka, TestInfo info)
            throws Exception {
        TestNames names = TestNames.of(info);
        // Jobs marked "no" answer at once; the others wait forever on a gated tool, so the run never ends by itself.
        ToolCallRule answerOrCall = context -> context.lastUserMessage().contains("Tool: no")
                ? Optional.empty()
                : ToolCallRule.defaultRule().choose(context);
        try (EngineSimulator engine = EngineSimulator.start(SimulatorOptions.builder()
                .profile("instant")
                .toolCallRule(answerOrCall)
                .build())) {
            Path output = dir.resolve("results.jsonl");
            List<String> command = new ArrayList<>(List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx768m",
                    "-D" + GatedTool.CLOSED_PROPERTY + "=true",
                    "-cp",
                    System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                    BatchAgentCommand.class.getName()));
            command.addAll(runArgs(kafka, names, engine, batch(List.of("no", "yes", "no", "yes", "no")), output, "0"));
            int metricsPort;
            try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
                metricsPort = socket.getLocalPort();
            }
            command.addAll(List.of("--metrics-port", String.valueOf(metricsPort)));
            Process run = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(dir.resolve("run.log").toFile())
                    .start();
            try {
                await().atMost(Duration.ofMinutes(3))
                        .until(() -> Files.exists(output)
                                && Files.readAllLines(output).size() == 3);
                assertThat(run.isAlive())
                        .as("the run still waits for its gated jobs")
                        .isTrue();
                // run --metrics-port serves its stages' endpoints while the batch runs.
                java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
                await().atMost(Duration.ofMinutes(1)).untilAsserted(() -> {
                    java.net.http.HttpResponse<String> ready = http.send(
                            java.net.http.HttpRequest.newBuilder(
                                            java.net.URI.create("http://127.0.0.1:" + metricsPort + "/ready"))
                                    .build(),
                            java.net.http.HttpResponse.BodyHandlers.ofString());
                    String metrics = http.send(
                                    java.net.http.HttpRequest.newBuilder(
                                                    java.net.URI.create("http://127.0.0.1:" + metricsPort + "/metrics"))
                                            .build(),
                                    java.net.http.HttpResponse.BodyHandlers.ofString())
                            .body();
                    assertThat(ready.statusCode()).as(ready.body()).isEqualTo(200);
                    assertThat(RoleEndpointsIT.sum(metrics, "batchagent_model_calls_total", "outcome=\"ok\""))
                            .isGreaterThanOrEqualTo(3);
                });
            } finally {
                run.destroyForcibly();
                assertThat(run.waitFor(30, TimeUnit.SECONDS)).isTrue();
            }

            List<JsonNode> written = lines(output);
            assertThat(written)
                    .hasSize(3)
                    .allSatisfy(line -> assertThat(line.path("status").asText()).isEqualTo("SUCCEEDED"));
            assertThat(written).extracting(line -> line.path("index").asLong()).containsExactlyInAnyOrder(0L, 2L, 4L);
            Topics topics = Topics.create(names.topicPrefix(), Map.of());
            List<String> finished = TopicContents.read(kafka.clientConfig(), topics.results()).stream()
                    .map(AgentResult::getJobId)
                    .distinct()
                    .toList();
            assertThat(jobIds(written)).containsExactlyInAnyOrderElementsOf(finished);
        }
    }

    @Test
    void shouldExitThreeNamingTheUnfinishedJobsWhenNoJobProgressesAndResumeWithoutDuplicates(
            KafkaCluster kafka, TestInfo info) throws Exception {
        TestNames names = TestNames.of(info);
        GatedTool.close();
        try (EngineSimulator engine = EngineSimulator.start(
                SimulatorOptions.builder().profile("instant").build())) {
            Path batch = batch(List.of("yes", "yes", "yes"));
            Path output = dir.resolve("results.jsonl");

            Outcome stalled = runInProcess(runArgs(kafka, names, engine, batch, output, "15s"));

            assertThat(stalled.exitCode()).as(stalled.err()).isEqualTo(BatchAgentCommand.EXIT_STALLED);
            assertThat(stalled.err())
                    .contains("stalled: no job progressed for 15s; 3 of 3 jobs unfinished (0 done, 0 failed)")
                    .contains("unfinished: 3 waiting on tools (" + GatedTool.NAME + ")")
                    .contains("rerunning the same command resumes the batch");
            assertThat(GatedTool.started())
                    .as("the tool calls reached the tool worker")
                    .isPositive();
            assertThat(GatedTool.finished()).isZero();
            assertThat(Files.readAllLines(output)).isEmpty();

            GatedTool.open();
            Outcome resumed = runInProcess(runArgs(kafka, names, engine, batch, output, "2m"));
            List<String> afterResume = jobIds(lines(output));
            Outcome again = runInProcess(runArgs(kafka, names, engine, batch, output, "2m"));

            assertThat(resumed.exitCode()).as(resumed.err()).isEqualTo(BatchAgentCommand.EXIT_OK);
            assertThat(afterResume).hasSize(3).doesNotHaveDuplicates();
            assertThat(again.exitCode()).as(again.err()).isEqualTo(BatchAgentCommand.EXIT_OK);
            assertThat(again.out()).contains("3 jobs, 3 succeeded, 0 failed (3 already finished before this run)");
            assertThat(jobIds(lines(output)))
                    .as("a rerun rewrites the file")
                    .containsExactlyInAnyOrderElementsOf(afterResume);
            assertThat(stalled.err()
                            .lines()
                            .filter(line -> line.startsWith("progress: "))
                            .collect(Collectors.toList()))
                    .as("plain progress lines when stderr is not a terminal")
                    .isNotEmpty();
        } finally {
            GatedTool.open();
        }
    }
}
