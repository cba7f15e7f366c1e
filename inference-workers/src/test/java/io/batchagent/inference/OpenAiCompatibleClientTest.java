package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.reactivestreams.Publisher;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import reactor.netty.http.server.HttpServerResponse;

/** The client against a local HTTP server that replays recorded OpenAI-format answers. */
class OpenAiCompatibleClientTest {

    private static final byte[] BODY =
            "{\"model\":\"m\",\"stream\":true,\"messages\":[]}".getBytes(StandardCharsets.UTF_8);

    /** What the server answers to one request. */
    private interface Reply extends Function<HttpServerResponse, Publisher<Void>> {}

    private final Queue<Reply> replies = new ConcurrentLinkedQueue<>();
    private final List<String> receivedBodies = new CopyOnWriteArrayList<>();
    private final List<String> receivedAuthorization = new CopyOnWriteArrayList<>();
    private final List<String> receivedPaths = new CopyOnWriteArrayList<>();
    private final List<String> receivedContentLength = new CopyOnWriteArrayList<>();
    private DisposableServer server;
    private OpenAiCompatibleClient client;

    @BeforeEach
    void startServer() {
        server = HttpServer.create()
                .host("127.0.0.1")
                .port(0)
                .handle((request, response) -> request.receive()
                        .aggregate()
                        .asString(StandardCharsets.UTF_8)
                        .defaultIfEmpty("")
                        .flatMap(body -> {
                            receivedBodies.add(body);
                            receivedPaths.add(request.method() + " " + request.uri());
                            receivedAuthorization.add(
                                    String.valueOf(request.requestHeaders().get(HttpHeaderNames.AUTHORIZATION)));
                            receivedContentLength.add(
                                    String.valueOf(request.requestHeaders().get(HttpHeaderNames.CONTENT_LENGTH)));
                            Reply reply = replies.poll();
                            return reply == null
                                    ? Mono.from(response.status(HttpResponseStatus.GONE)
                                            .sendString(Mono.just("no scripted reply")))
                                    : Mono.from(reply.apply(response));
                        }))
                .bindNow();
    }

    @AfterEach
    void stop() {
        if (client != null) {
            client.close();
        }
        server.disposeNow();
    }

    @Test
    void shouldReassembleAStreamedAnswerWithToolCallsAndCachedTokens() throws Exception {
        // Given a recorded stream sent in small chunks that cut lines and characters apart
        replies.add(sse(Recordings.bytes("sse/tool-calls.sse"), 37));
        client = client(config().withEngineApiKey("sk-test-123"));

        // When
        ChatResponse response = call();

        // Then
        assertThat(response.failure()).isNull();
        assertThat(response.content()).isEqualTo("Let me look that up — twice.");
        assertThat(response.toolCalls())
                .containsExactly(
                        new RequestedToolCall(
                                "chatcmpl-tool-a1", "web_search", "{\"query\": \"kafka exactly once\", \"limit\": 3}"),
                        new RequestedToolCall(
                                "chatcmpl-tool-b2", "fetch_url", "{\"url\": \"https://kafka.apache.org/\"}"));
        assertThat(response.finishReason()).isEqualTo("tool_calls");
        assertThat(response.usage()).isEqualTo(new TokenUsage(1873, 1792, 58));
        assertThat(response.timeToFirstTokenMs()).isPresent();
        assertThat(response.timeToFirstTokenMs().getAsLong()).isLessThanOrEqualTo(response.latencyMs());
        assertThat(receivedPaths).containsExactly("POST /v1/chat/completions");
        assertThat(receivedBodies).containsExactly(new String(BODY, StandardCharsets.UTF_8));
        assertThat(receivedAuthorization).containsExactly("Bearer sk-test-123");
        assertThat(receivedContentLength).containsExactly(String.valueOf(BODY.length));
    }

    @Test
    void shouldReadAContentStreamWithoutPromptTokenDetailsAsZeroCachedTokens() throws Exception {
        replies.add(sse(Recordings.bytes("sse/content-no-details.sse"), 1024));
        client = client(config());

        ChatResponse response = call();

        assertThat(response.content()).isEqualTo("{\"answer\": 42}");
        assertThat(response.usage()).isEqualTo(TokenUsage.withoutCacheReport(20, 5));
        assertThat(receivedAuthorization).containsExactly("null");
    }

    @Test
    void shouldParseANonStreamedAnswer() throws Exception {
        replies.add(json(200, Recordings.text("sse/non-streamed.json")));
        client = client(config());

        ChatResponse response = call();

        assertThat(response.failure()).isNull();
        assertThat(response.toolCalls())
                .containsExactly(new RequestedToolCall("call_x1", "web_search", "{\"query\":\"rfc 8785\"}"));
        assertThat(response.usage()).isEqualTo(new TokenUsage(900, 512, 17));
        assertThat(response.timeToFirstTokenMs()).isEmpty();
    }

    @Test
    void shouldRetryA500AndSucceed() throws Exception {
        replies.add(json(500, "{\"object\":\"error\",\"message\":\"CUDA error: an illegal memory access\"}"));
        replies.add(sse(Recordings.bytes("sse/content-no-details.sse"), 1024));
        client = client(config());

        ChatResponse response = call();

        assertThat(response.failure()).isNull();
        assertThat(receivedBodies).hasSize(2);
    }

    @Test
    void shouldReportTheStatusAndBodyOfA500ThatOutlastsEveryAttempt() throws Exception {
        for (int i = 0; i < 10; i++) {
            replies.add(json(500, "{\"object\":\"error\",\"message\":\"CUDA error: an illegal memory access\"}"));
        }
        client = client(config());

        ChatResponse response = call();

        assertThat(response.isFailure()).isTrue();
        assertThat(response.failure().httpStatus()).hasValue(500);
        assertThat(response.failure().retriable()).isTrue();
        assertThat(response.failure().message())
                .contains("HTTP 500")
                .contains("/v1/chat/completions")
                .contains("CUDA error: an illegal memory access");
        assertThat(receivedBodies).hasSizeBetween(2, 10);
    }

    @Test
    void shouldNeverPassOnTheApiKeyAnEngineEchoesInItsError() throws Exception {
        replies.add(json(
                401,
                "{\"error\":{\"message\":\"Incorrect API key provided: sk-test-echoed-77.\","
                        + "\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}"));
        client = client(config().withEngineApiKey("sk-test-echoed-77"));

        ChatResponse response = call();

        assertThat(response.failure().httpStatus()).hasValue(401);
        assertThat(response.failure().message())
                .contains("Incorrect API key provided: ****")
                .doesNotContain("sk-test-echoed-77");
    }

    @Test
    void shouldRetryA503AndSucceed() throws Exception {
        replies.add(json(503, "{\"error\":{\"message\":\"server overloaded\"}}"));
        replies.add(sse(Recordings.bytes("sse/content-no-details.sse"), 1024));
        client = client(config());

        ChatResponse response = call();

        assertThat(response.failure()).isNull();
        assertThat(response.content()).isEqualTo("{\"answer\": 42}");
        assertThat(receivedBodies).hasSize(2).allMatch(body -> body.equals(new String(BODY, StandardCharsets.UTF_8)));
    }

    @Test
    void shouldGiveUpAfterMaxAttemptsOfA429() throws Exception {
        for (int i = 0; i < 5; i++) {
            replies.add(json(429, "{\"error\":{\"message\":\"rate limited\"}}"));
        }
        client = client(config().withMaxRetries(2));

        ChatResponse response = call();

        assertThat(response.failure().httpStatus()).hasValue(429);
        assertThat(response.failure().retriable()).isTrue();
        assertThat(response.failure().message()).contains("(3 attempts)").contains("rate limited");
        assertThat(receivedBodies).hasSize(3);
    }

    @Test
    void shouldReturnAFailureNotAnExceptionWhenTheConnectionIsRefused() throws Exception {
        int closedPort = freePort();
        client = new OpenAiCompatibleClient(EngineEndpoint.parse("vllm://127.0.0.1:" + closedPort), config());

        ChatResponse response = call();

        assertThat(response.isFailure()).isTrue();
        assertThat(response.failure().httpStatus()).isEmpty();
        assertThat(response.failure().retriable()).isTrue();
        assertThat(response.failure().message())
                .contains("cannot connect to the engine at http://127.0.0.1:" + closedPort)
                .contains("(3 attempts)");
    }

    @Test
    void shouldFailACallThatOutlivesTheEngineTimeout() throws Exception {
        replies.add(response -> Mono.never());
        client = client(config().withEngineTimeout(Duration.ofMillis(300)));

        ChatResponse response = call();

        assertThat(response.isFailure()).isTrue();
        assertThat(response.failure().message()).contains("within 300 ms");
        assertThat(response.latencyMs()).isGreaterThanOrEqualTo(300);
        assertThat(receivedBodies).hasSize(1);
    }

    private ChatResponse call() throws Exception {
        return client.complete(new ChatRequest("job-1", 1, "m", BODY)).get(20, TimeUnit.SECONDS);
    }

    private OpenAiCompatibleClient client(InferenceWorkerConfig config) {
        return new OpenAiCompatibleClient(EngineEndpoint.parse("http://127.0.0.1:" + server.port()), config);
    }

    private static InferenceWorkerConfig config() {
        return InferenceWorkerConfig.defaults()
                .withMaxInflight(4)
                .withEngineTimeout(Duration.ofSeconds(10))
                .withRetryBackoff(Duration.ofMillis(10));
    }

    private static Reply sse(byte[] stream, int chunkSize) {
        List<byte[]> chunks = new ArrayList<>();
        for (int i = 0; i < stream.length; i += chunkSize) {
            chunks.add(Arrays.copyOfRange(stream, i, Math.min(stream.length, i + chunkSize)));
        }
        return response -> response.header(HttpHeaderNames.CONTENT_TYPE, "text/event-stream")
                .send(Flux.fromIterable(chunks).map(Unpooled::wrappedBuffer), chunk -> true);
    }

    private static Reply json(int status, String body) {
        return response -> response.status(status)
                .header(HttpHeaderNames.CONTENT_TYPE, "application/json")
                .sendString(Mono.just(body));
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
