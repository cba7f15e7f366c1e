package io.batchagent.simulator;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** A plain java.net.http client for the simulator's endpoints, with an SSE parser. */
final class SimulatorHttpClient {

    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private final HttpClient client = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(TIMEOUT)
            .build();
    private final String baseUrl;

    SimulatorHttpClient(String baseUrl) {
        this.baseUrl = baseUrl;
    }

    HttpResponse<String> post(String path, String body) {
        return send(HttpRequest.newBuilder(URI.create(baseUrl + path))
                .timeout(TIMEOUT)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build());
    }

    CompletableFuture<HttpResponse<String>> postAsync(String path, String body) {
        return client.sendAsync(
                HttpRequest.newBuilder(URI.create(baseUrl + path))
                        .timeout(TIMEOUT)
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(String path) {
        return send(HttpRequest.newBuilder(URI.create(baseUrl + path))
                .timeout(TIMEOUT)
                .GET()
                .build());
    }

    /** Posts a chat completion and returns its JSON body, asserting HTTP 200. */
    JsonNode chat(String body) {
        HttpResponse<String> response = post("/v1/chat/completions", body);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return json(response.body());
    }

    /**
     * Posts a streamed chat completion and returns its {@code data:} events as JSON, asserting
     * that every frame is a {@code data:} line and that the last one is {@code [DONE]} (not
     * included).
     */
    List<JsonNode> stream(String body) {
        HttpResponse<String> response = post("/v1/chat/completions", body);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type"))
                .hasValueSatisfying(type -> assertThat(type).startsWith("text/event-stream"));
        List<String> frames = new ArrayList<>();
        for (String frame : response.body().split("\n\n")) {
            if (!frame.isEmpty()) {
                assertThat(frame).startsWith("data: ");
                frames.add(frame.substring("data: ".length()));
            }
        }
        assertThat(response.body()).endsWith("\n\n");
        assertThat(frames).isNotEmpty();
        assertThat(frames.get(frames.size() - 1)).isEqualTo("[DONE]");
        List<JsonNode> events = new ArrayList<>();
        for (String frame : frames.subList(0, frames.size() - 1)) {
            events.add(json(frame));
        }
        return events;
    }

    static JsonNode json(String text) {
        try {
            return Json.MAPPER.readTree(text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private HttpResponse<String> send(HttpRequest request) {
        try {
            return client.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
