package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.apache.avro.SchemaNormalization;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The distributed layout through its process boundaries, as README's "Distributed" section runs it:
 * {@code batchagent broker}, the simulator and one {@code worker --role} per role, each a JVM of its
 * own; {@code batchagent submit} publishes a batch and {@code batchagent results} returns every result;
 * a batch produced with a plain Kafka producer ({@link PlainJobs}) completes too. The inference worker
 * is killed (SIGKILL) while the batch waits on tools; its replacement turns ready and finishes the batch.
 * Every worker's {@code /metrics} and {@code /ready} are scraped.
 *
 * <p>Lean on purpose (four jobs and two): it starts seven JVMs. Their output is kept in
 * {@code target/distributed-processes/}.
 */
class DistributedProcessesIT {

    private static final Path LOGS = Path.of("target", "distributed-processes");
    // Generous: these machines run many builds at once; nothing here measures time.
    private static final Duration START = Duration.ofMinutes(3);
    private static final Duration BATCH = Duration.ofMinutes(5);
    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private final List<RoleProcess> processes = new ArrayList<>();
    private final Map<String, Integer> metricsPorts = new LinkedHashMap<>();

    @Test
    void shouldFinishBatchesSubmittedFromOtherProcessesWhenAnInferenceWorkerIsKilledAndReplaced() throws Exception {
        try {
            RoleProcess broker = start(
                    "broker", "broker", "--data-dir", dir.resolve("broker").toString(), "--port", "0");
            String bootstrap = broker.awaitStdout(Pattern.compile("^(127\\.0\\.0\\.1:\\d+)$"), START);
            RoleProcess simulator = start("simulator", "simulator", "--port", "0", "--profile", "instant");
            String engine = "sglang://" + simulator.awaitStdout(Pattern.compile("listening on http://([^ /]+)"), START);
            worker("topology", bootstrap, engine);
            worker("tools", bootstrap, engine);
            RoleProcess firstInference = worker("inference", bootstrap, engine);
            awaitReady(List.copyOf(metricsPorts.keySet()));

            RoleProcess submit = start(
                    "submit",
                    "submit",
                    "--batch",
                    batchDirectory(4).toString(),
                    "--max-turns",
                    "3",
                    "--bootstrap-servers",
                    bootstrap);
            assertThat(submit.awaitExit(START)).as(submit.stderrTail()).isZero();
            String batchId = submit.stdout().strip();
            assertThat(batchId).matches("batch-[0-9a-f]{12}");
            // Without a registry the workers use fingerprint ids: any Avro library computes them.
            PlainJobs.produce(bootstrap, "", "plain-batch", 2, (subject, schema) ->
                    (int) (SchemaNormalization.parsingFingerprint64(schema) >>> 33));

            // Kill the inference worker once it has made a model call: the agents then wait 1.5 s on their tool
            // calls, and their next turns are the replacement's to run.
            await().atMost(BATCH)
                    .pollInterval(Duration.ofMillis(200))
                    .until(() -> RoleEndpointsIT.sum(
                                    scrape("inference", "/metrics").body(), "batchagent_model_calls_total", "")
                            >= 1);
            firstInference.kill();
            metricsPorts.remove("inference");
            worker("inference-replacement", bootstrap, engine);
            awaitReady(List.of("inference-replacement"));

            Path output = dir.resolve("results.jsonl");
            RoleProcess results = start(
                    "results",
                    "results",
                    batchId,
                    "--output",
                    output.toString(),
                    "--timeout",
                    "5m",
                    "--bootstrap-servers",
                    bootstrap);
            RoleProcess plainResults = start(
                    "results-plain", "results", "plain-batch", "--timeout", "5m", "--bootstrap-servers", bootstrap);

            assertThat(results.awaitExit(BATCH)).as(results.stderrTail()).isZero();
            List<JsonNode> lines = new ArrayList<>();
            for (String line : Files.readAllLines(output)) {
                lines.add(JSON.readTree(line));
            }
            assertThat(lines).extracting(line -> line.path("index").asLong()).containsExactlyInAnyOrder(0L, 1L, 2L, 3L);
            assertThat(lines)
                    .allSatisfy(line -> assertThat(line.path("status").asText()).isEqualTo("SUCCEEDED"));
            assertThat(plainResults.awaitExit(BATCH))
                    .as(plainResults.stderrTail())
                    .isZero();
            assertThat(plainResults
                            .stdout()
                            .lines()
                            .map(this::json)
                            .map(line -> line.path("job_id").asText()))
                    .containsExactlyInAnyOrder("plain-batch-0", "plain-batch-1");
            RoleProcess status = start("status", "status", batchId, "--bootstrap-servers", bootstrap);
            assertThat(status.awaitExit(START)).as(status.stderrTail()).isZero();
            assertThat(status.stdout()).contains("batch " + batchId + ": complete, 4 jobs, 4 finished (succeeded 4,");

            String replacement = scrape("inference-replacement", "/metrics").body();
            assertThat(RoleEndpointsIT.sum(replacement, "batchagent_model_calls_total", "outcome=\"ok\""))
                    .as("model calls the replacement made")
                    .isPositive();
            for (String role : metricsPorts.keySet()) {
                assertThat(scrape(role, "/ready").statusCode())
                        .as("/ready of %s", role)
                        .isEqualTo(200);
                assertThat(RoleEndpointsIT.sampleNames(scrape(role, "/metrics").body()))
                        .as("/metrics of %s", role)
                        .anyMatch(name -> name.startsWith("batchagent_"))
                        .anyMatch(name -> name.startsWith("kafka_"));
            }
        } finally {
            Collections.reverse(processes);
            for (RoleProcess process : processes) {
                process.close();
            }
        }
    }

    private RoleProcess start(String name, String... args) throws IOException {
        RoleProcess process = RoleProcess.start(name, LOGS, args);
        processes.add(process);
        return process;
    }

    /** {@code worker --role R} (its name's first word) with a metrics port; tools answer after 1.5 s. */
    private RoleProcess worker(String name, String bootstrap, String engine) throws IOException {
        int port = freePort();
        metricsPorts.put(name, port);
        return start(
                name,
                "worker",
                "--role",
                name.split("-")[0],
                "--bootstrap-servers",
                bootstrap,
                "--backend",
                engine,
                "--partitions",
                "2",
                "--max-inflight",
                "4",
                "--state-dir",
                dir.resolve(name).toString(),
                "--tool-option",
                "sim_search.latency.ms=1500",
                "--metrics-port",
                String.valueOf(port));
    }

    private void awaitReady(List<String> roles) {
        await("/ready of " + roles)
                .atMost(START)
                .pollInterval(Duration.ofMillis(500))
                .ignoreExceptions()
                .untilAsserted(() -> {
                    for (String role : roles) {
                        assertThat(scrape(role, "/ready").statusCode())
                                .as("/ready of %s", role)
                                .isEqualTo(200);
                    }
                });
    }

    private HttpResponse<String> scrape(String role, String path) throws IOException, InterruptedException {
        return HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metricsPorts.get(role) + path))
                        .timeout(Duration.ofSeconds(30))
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private Path batchDirectory(int jobs) throws IOException {
        Path batch = Files.createDirectories(dir.resolve("batch"));
        Files.writeString(batch.resolve("task.txt"), "Topic: {topic}\nQuery: {query}");
        Files.write(
                batch.resolve("inputs.jsonl"),
                IntStream.range(0, jobs)
                        .mapToObj(i -> "{\"topic\":\"t" + i + "\",\"query\":\"q" + i + "\"}")
                        .toList());
        Files.writeString(batch.resolve("schema.json"), PlainJobs.SCHEMA);
        Files.writeString(
                batch.resolve("tools.json"),
                "[{\"name\": \"sim_search\", \"parameters\": {\"type\": \"object\", "
                        + "\"properties\": {\"query\": {\"type\": \"string\"}}, \"required\": [\"query\"]}}]");
        return batch;
    }

    private JsonNode json(String line) {
        try {
            return JSON.readTree(line);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
