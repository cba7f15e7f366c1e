package io.batchagent.connectors;

import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * A standalone Kafka Connect worker in a process of its own, from {@code connectors/target/connect-worker} with
 * {@code plugin.path=connectors/target/plugins} and the shipped worker settings; connectors are added through its
 * REST API with the shipped JSON configs.
 */
final class ConnectWorker implements AutoCloseable {

    static final Path CONNECTORS = Path.of("..").toAbsolutePath().normalize();
    private static final Path TARGET = CONNECTORS.resolve("target");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final JavaProcess process;
    private final String restUrl;
    private final HttpClient http = HttpClient.newHttpClient();

    private ConnectWorker(JavaProcess process, String restUrl) {
        this.process = process;
        this.restUrl = restUrl;
    }

    /** Starts a worker and returns once its REST API answers. */
    static ConnectWorker start(String bootstrapServers, Path workDir, Map<String, String> environment)
            throws IOException {
        int port = freePort();
        Properties worker = new Properties();
        try (var in = Files.newBufferedReader(CONNECTORS.resolve("config/connect-standalone.properties"))) {
            worker.load(in);
        }
        worker.setProperty("bootstrap.servers", bootstrapServers);
        worker.setProperty("listeners", "http://127.0.0.1:" + port);
        worker.setProperty(
                "offset.storage.file.filename",
                workDir.resolve("connect.offsets").toString());
        worker.setProperty("plugin.path", TARGET.resolve("plugins").toString());
        Path workerFile = workDir.resolve("connect-standalone.properties");
        try (Writer out = Files.newBufferedWriter(workerFile)) {
            worker.store(out, "ResultSinksIT");
        }
        JavaProcess process = JavaProcess.start(
                List.of(
                        "-Xmx768m",
                        "-Daws.requestChecksumCalculation=WHEN_REQUIRED",
                        "-Daws.responseChecksumValidation=WHEN_REQUIRED",
                        "-Dlogback.configurationFile=" + CONNECTORS.resolve("connect-worker/logback.xml")),
                TARGET.resolve("connect-worker") + "/*",
                "org.apache.kafka.connect.cli.ConnectStandalone",
                List.of(workerFile.toString()),
                environment,
                Path.of("target", "connect-worker.log"));
        ConnectWorker connect = new ConnectWorker(process, "http://127.0.0.1:" + port);
        await("the Connect worker's REST API")
                .atMost(Duration.ofMinutes(3))
                .pollInterval(Duration.ofMillis(500))
                .until(() -> {
                    if (!process.isAlive()) {
                        throw new IllegalStateException("the Connect worker exited:\n" + process.logTail());
                    }
                    try {
                        return connect.get("/connectors").statusCode() == 200;
                    } catch (IOException e) {
                        return false;
                    }
                });
        return connect;
    }

    /** The shipped distributed-mode config {@code config/<file>}: {"name": ..., "config": {...}}. */
    static ObjectNode shippedConfig(String file) throws IOException {
        return (ObjectNode)
                JSON.readTree(CONNECTORS.resolve("config").resolve(file).toFile());
    }

    /** Creates or replaces a connector, as {@code PUT /connectors/{name}/config} does. */
    void putConnector(String name, JsonNode config) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(
                HttpRequest.newBuilder(URI.create(restUrl + "/connectors/" + name + "/config"))
                        .header("Content-Type", "application/json")
                        .PUT(HttpRequest.BodyPublishers.ofString(config.toString()))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() / 100 != 2) {
            throw new IllegalStateException(
                    "Connect refused " + name + ": HTTP " + response.statusCode() + " " + response.body());
        }
    }

    void deleteConnector(String name) throws IOException, InterruptedException {
        http.send(
                HttpRequest.newBuilder(URI.create(restUrl + "/connectors/" + name))
                        .DELETE()
                        .build(),
                HttpResponse.BodyHandlers.discarding());
    }

    /** The connector's and its tasks' states, e.g. {@code RUNNING [RUNNING]}, with any task's trace. */
    String status(String name) throws IOException, InterruptedException {
        HttpResponse<String> response = get("/connectors/" + name + "/status");
        if (response.statusCode() != 200) {
            return "HTTP " + response.statusCode();
        }
        JsonNode status = JSON.readTree(response.body());
        StringBuilder text =
                new StringBuilder(status.path("connector").path("state").asText()).append(" [");
        for (JsonNode task : status.path("tasks")) {
            text.append(task.path("state").asText())
                    .append(task.has("trace") ? " " + task.path("trace").asText() : "");
        }
        return text.append("]").toString();
    }

    String logTail() {
        return process.logTail();
    }

    @Override
    public void close() {
        process.close();
    }

    private HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return http.send(
                HttpRequest.newBuilder(URI.create(restUrl + path)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
