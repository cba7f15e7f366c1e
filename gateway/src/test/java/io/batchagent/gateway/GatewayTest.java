package io.batchagent.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.events.WarmUpOutcome;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.simulator.EngineProfile;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The gateway in front of the engine simulator, called over HTTP. */
class GatewayTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TOOLS = """
            [{"type":"function","function":{"name":"web_search","description":"Searches the web.",
              "parameters":{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}}}]""";

    private final HttpClient http = HttpClient.newHttpClient();
    private EngineSimulator engine;
    private Gateway gateway;

    @BeforeEach
    void start() {
        engine = EngineSimulator.start(SimulatorOptions.builder()
                .profile(EngineProfile.INSTANT)
                .captureRequests(true)
                .toolCallRule("web_search.query=Topic: (.*)")
                .build());
    }

    @AfterEach
    void stop() {
        if (gateway != null) {
            gateway.close();
        }
        engine.resumeScheduling();
        engine.close();
    }

    private Gateway startGateway(GatewayConfig config) {
        gateway = Gateway.start(
                config, EngineEndpoint.parse("sglang://127.0.0.1:" + engine.port()), InferenceWorkerConfig.defaults());
        return gateway;
    }

    @Test
    void shouldRelayStreamedCompletionExactlyAndAccountItsUsageToTheJob() throws Exception {
        startGateway(GatewayConfig.forModel("sim-model").withMaxInflight(2));
        String body = request("Topic: kv cache serving", true);

        // The same call straight to the engine, then through the gateway for job-1 of batch b1.
        HttpResponse<String> direct = post(engine.baseUrl() + "/v1/chat/completions", body);
        HttpResponse<String> relayed = post(gateway.jobBaseUrl("b1", "job-1") + "/chat/completions", body);

        assertThat(relayed.statusCode()).isEqualTo(200);
        assertThat(relayed.headers().firstValue("Content-Type"))
                .hasValueSatisfying(type -> assertThat(type).startsWith("text/event-stream"));
        Decoded fromEngine = Decoded.of(direct.body());
        Decoded fromGateway = Decoded.of(relayed.body());
        assertThat(relayed.body()).endsWith("data: [DONE]\n\n");
        assertThat(fromGateway.chunkObjects()).containsOnly("chat.completion.chunk");
        // Same answer, byte for byte: tool call id, name and argument text; finish reason; token counts.
        assertThat(fromGateway.toolCalls()).isNotEmpty().isEqualTo(fromEngine.toolCalls());
        assertThat(fromGateway.content()).isEqualTo(fromEngine.content());
        assertThat(fromGateway.finishReason()).isEqualTo("tool_calls").isEqualTo(fromEngine.finishReason());
        assertThat(fromGateway.usage().path("prompt_tokens"))
                .isEqualTo(fromEngine.usage().path("prompt_tokens"));
        assertThat(fromGateway.usage().path("completion_tokens"))
                .isEqualTo(fromEngine.usage().path("completion_tokens"));

        // The engine got the client's messages and tools unchanged, plus the SGLang priority of a first call.
        JsonNode forwarded = JSON.readTree(engine.capturedRequestBodies()
                .get(engine.capturedRequestBodies().size() - 1));
        JsonNode sent = JSON.readTree(body);
        assertThat(forwarded.get("messages")).isEqualTo(sent.get("messages"));
        assertThat(forwarded.get("tools")).isEqualTo(sent.get("tools"));
        assertThat(forwarded.path("priority").asInt(-1)).isZero();

        // Usage is the job's, as the engine reported it.
        JobUsage usage = gateway.usage("job-1").orElseThrow();
        assertThat(usage.batchId()).isEqualTo("b1");
        assertThat(usage.modelCalls()).isEqualTo(1);
        assertThat(usage.promptTokens())
                .isEqualTo(fromGateway.usage().path("prompt_tokens").asLong())
                .isPositive();
        assertThat(usage.cachedPromptTokens())
                .isEqualTo(fromGateway
                        .usage()
                        .path("prompt_tokens_details")
                        .path("cached_tokens")
                        .asLong());
        assertThat(usage.completionTokens())
                .isEqualTo(fromGateway.usage().path("completion_tokens").asLong())
                .isPositive();
        assertThat(usage.firstTokenMs()).isPresent();
        assertThat(gateway.usage("job-2")).isEmpty();

        // A non-streamed call of another job: a chat.completion object, accounted to that job only.
        HttpResponse<String> whole = post(
                gateway.jobBaseUrl("b1", "job-2") + "/chat/completions", request("Topic: attention kernels", false));
        JsonNode completion = JSON.readTree(whole.body());
        assertThat(completion.path("object").asText()).isEqualTo("chat.completion");
        assertThat(completion
                        .path("choices")
                        .path(0)
                        .path("message")
                        .path("tool_calls")
                        .path(0)
                        .path("function")
                        .path("arguments")
                        .asText())
                .isEqualTo("{\"query\":\"attention kernels\"}");
        assertThat(gateway.usage("job-2").orElseThrow().modelCalls()).isEqualTo(1);
        assertThat(gateway.usage("job-1").orElseThrow().modelCalls()).isEqualTo(1);
    }

    @Test
    void shouldNeverExceedTheInflightBoundUnderThreeTimesMoreClientsAndServeContinuingSessionsFirst() throws Exception {
        startGateway(GatewayConfig.forModel("sim-model").withMaxInflight(2));
        String firstOfSession = request("Topic: first step of the continuing session", true);
        assertThat(post(gateway.jobBaseUrl("b2", "session").concat("/chat/completions"), firstOfSession)
                        .statusCode())
                .isEqualTo(200);
        engine.resetStats();
        engine.clearCapturedRequests();
        engine.pauseScheduling();

        // Given 6 clients (3x the 2 slots) starting new sessions while the engine holds what it gets
        List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
        IntStream.range(0, 6)
                .forEach(i -> calls.add(postAsync(
                        gateway.jobBaseUrl("b2", "new-" + i) + "/chat/completions",
                        request("Topic: new session " + i, true))));
        await().atMost(Duration.ofSeconds(20)).until(() -> gateway.stats().waiting() == 4);
        assertThat(gateway.stats().inFlight()).isEqualTo(2);
        assertThat(engine.stats().inFlight()).isEqualTo(2);

        // When the running session takes its next step, behind the 4 waiting first steps
        calls.add(postAsync(
                gateway.jobBaseUrl("b2", "session") + "/chat/completions",
                request("Topic: next step of the continuing session", true)));
        await().atMost(Duration.ofSeconds(20)).until(() -> gateway.stats().waiting() == 5);
        engine.resumeScheduling();

        // Then every call is answered, the engine never had more than 2 at once, and the next step went first
        for (CompletableFuture<HttpResponse<String>> call : calls) {
            assertThat(call.get().statusCode()).isEqualTo(200);
        }
        assertThat(engine.stats().peakInFlight()).isEqualTo(2);
        assertThat(gateway.stats().peakInFlight()).isEqualTo(2);
        List<String> order = new ArrayList<>();
        for (String captured : engine.capturedRequestBodies()) {
            JsonNode forwarded = JSON.readTree(captured);
            String user = forwarded.path("messages").path(1).path("content").asText();
            order.add(user);
            assertThat(forwarded.path("priority").asInt(-1)).isEqualTo(user.contains("next step") ? 1 : 0);
        }
        assertThat(order).hasSize(7);
        // Two were at the engine already; the continuing step took one of the next two slots, ahead of
        // the four first steps that had waited longer.
        assertThat(order.indexOf("Topic: next step of the continuing session")).isBetween(2, 3);
    }

    @Test
    void shouldWarmTheSharedPrefixAndEndTheWarmUpSessionAtOnce() throws Exception {
        startGateway(GatewayConfig.forModel("sim-model"));

        HttpResponse<String> warmUp = post(gateway.warmUpBaseUrl("b3") + "/chat/completions", request("warm-up", true));

        assertThat(warmUp.statusCode()).isEqualTo(200);
        Decoded answer = Decoded.of(warmUp.body());
        assertThat(answer.finishReason()).isEqualTo("stop");
        assertThat(answer.toolCalls()).isEmpty();
        assertThat(gateway.warmUpReport("b3"))
                .hasValueSatisfying(report -> assertThat(report.outcome()).isEqualTo(WarmUpOutcome.VERIFIED));
        // A session's first call now finds the system prompt and tools cached.
        post(gateway.jobBaseUrl("b3", "job") + "/chat/completions", request("Topic: serving systems", true));
        JobUsage usage = gateway.usage("job").orElseThrow();
        assertThat(usage.firstCallCachedTokens()).isGreaterThan(usage.firstCallPromptTokens() / 2);
        assertThat(gateway.usage(Gateway.WARM_UP_JOB_PREFIX + "b3")
                        .orElseThrow()
                        .modelCalls())
                .isGreaterThanOrEqualTo(1);
    }

    @Test
    void shouldRefuseCallsWithoutTheAccessTokenAndUnknownEndpoints() throws Exception {
        startGateway(GatewayConfig.forModel("sim-model").withAccessToken("s3cret-token"));
        String url = gateway.jobBaseUrl("b4", "job") + "/chat/completions";

        HttpResponse<String> anonymous = post(url, request("Topic: x", false));
        HttpResponse<String> wrong = send(HttpRequest.newBuilder(URI.create(url))
                .header("Authorization", "Bearer nope")
                .POST(HttpRequest.BodyPublishers.ofString(request("Topic: x", false)))
                .build());
        HttpResponse<String> right = send(HttpRequest.newBuilder(URI.create(url))
                .header("Authorization", "Bearer s3cret-token")
                .POST(HttpRequest.BodyPublishers.ofString(request("Topic: x", false)))
                .build());
        HttpResponse<String> models =
                send(HttpRequest.newBuilder(URI.create(gateway.jobBaseUrl("b4", "job") + "/models"))
                        .header("Authorization", "Bearer s3cret-token")
                        .GET()
                        .build());
        HttpResponse<String> unknown = send(HttpRequest.newBuilder(URI.create(gateway.baseUri() + "/v2/anything"))
                .header("Authorization", "Bearer s3cret-token")
                .GET()
                .build());
        HttpResponse<String> notJson = send(HttpRequest.newBuilder(URI.create(url))
                .header("Authorization", "Bearer s3cret-token")
                .POST(HttpRequest.BodyPublishers.ofString("{not json"))
                .build());

        assertThat(anonymous.statusCode()).isEqualTo(401);
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(right.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(models.body()).path("data").path(0).path("id").asText())
                .isEqualTo("sim-model");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(notJson.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(notJson.body()).path("error").path("code").asText())
                .isEqualTo("invalid_json");
        assertThat(gateway.stats().modelCalls()).isEqualTo(1);
        assertThat(gateway.stats().refusedCalls()).isEqualTo(3);
    }

    private static String request(String userMessage, boolean stream) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", "sim-model");
        body.putArray("messages")
                .add(JSON.createObjectNode().put("role", "system").put("content", "You are a careful research agent."))
                .add(JSON.createObjectNode().put("role", "user").put("content", userMessage));
        try {
            body.set("tools", JSON.readTree(TOOLS));
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        body.put("max_tokens", 256);
        body.put("stream", stream);
        if (stream) {
            body.putObject("stream_options").put("include_usage", true);
        }
        return body.toString();
    }

    private HttpResponse<String> post(String url, String body) throws Exception {
        return send(HttpRequest.newBuilder(URI.create(url))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build());
    }

    private CompletableFuture<HttpResponse<String>> postAsync(String url, String body) {
        return http.sendAsync(
                HttpRequest.newBuilder(URI.create(url))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> send(HttpRequest request) throws Exception {
        return http.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    /** A chat completions event stream, reassembled as an OpenAI client does. */
    private record Decoded(
            String content,
            List<List<String>> toolCalls,
            String finishReason,
            JsonNode usage,
            List<String> chunkObjects) {

        static Decoded of(String stream) throws Exception {
            StringBuilder content = new StringBuilder();
            List<String[]> calls = new ArrayList<>();
            String finish = null;
            JsonNode usage = JSON.createObjectNode();
            List<String> objects = new ArrayList<>();
            for (String event : stream.split("\n\n")) {
                if (event.isBlank() || !event.startsWith("data: ") || event.equals("data: [DONE]")) {
                    continue;
                }
                JsonNode chunk = JSON.readTree(event.substring(6));
                objects.add(chunk.path("object").asText());
                if (chunk.hasNonNull("usage")) {
                    usage = chunk.get("usage");
                }
                for (JsonNode choice : chunk.path("choices")) {
                    JsonNode delta = choice.path("delta");
                    content.append(delta.path("content").asText(""));
                    for (JsonNode call : delta.path("tool_calls")) {
                        int index = call.path("index").asInt();
                        while (calls.size() <= index) {
                            calls.add(new String[] {"", "", ""});
                        }
                        String[] whole = calls.get(index);
                        whole[0] += call.path("id").asText("");
                        whole[1] += call.path("function").path("name").asText("");
                        whole[2] += call.path("function").path("arguments").asText("");
                    }
                    if (choice.hasNonNull("finish_reason")) {
                        finish = choice.get("finish_reason").asText();
                    }
                }
            }
            return new Decoded(content.toString(), calls.stream().map(List::of).toList(), finish, usage, objects);
        }
    }
}
