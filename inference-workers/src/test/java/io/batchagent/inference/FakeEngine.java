package io.batchagent.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import mockwebserver3.Dispatcher;
import mockwebserver3.MockResponse;
import mockwebserver3.MockWebServer;
import mockwebserver3.RecordedRequest;

/**
 * A local HTTP server (okhttp's MockWebServer) that answers in an engine's wire format, as the test's
 * handler decides per request, and records every request it received.
 */
final class FakeEngine implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One request as received. */
    record Received(String method, String path, Map<String, String> headers, String body, long atNanos) {
        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new UncheckedIOException("not JSON: " + body, e);
            }
        }

        String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }

        boolean isChat() {
            return method.equals("POST") && path.endsWith("/v1/chat/completions");
        }
    }

    private final MockWebServer server = new MockWebServer();
    private final List<Received> received = new CopyOnWriteArrayList<>();
    private volatile Function<Received, MockResponse> handler;

    FakeEngine(Function<Received, MockResponse> handler) {
        this.handler = handler;
        server.setDispatcher(new Dispatcher() {
            @Override
            public MockResponse dispatch(RecordedRequest request) {
                Map<String, String> headers = new LinkedHashMap<>();
                request.getHeaders()
                        .forEach(pair -> headers.put(pair.getFirst().toLowerCase(Locale.ROOT), pair.getSecond()));
                Received one = new Received(
                        request.getMethod(),
                        request.getTarget(),
                        headers,
                        request.getBody() == null ? "" : request.getBody().utf8(),
                        System.nanoTime());
                received.add(one);
                return FakeEngine.this.handler.apply(one);
            }
        });
        try {
            server.start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void answerWith(Function<Received, MockResponse> next) {
        this.handler = next;
    }

    URI baseUri() {
        return URI.create("http://" + server.getHostName() + ":" + server.getPort());
    }

    EngineEndpoint endpoint(EngineEndpoint.Kind kind) {
        return switch (kind) {
            case OPENAI -> EngineEndpoint.parse("openai://").withBaseUri(baseUri());
            case ANTHROPIC -> EngineEndpoint.parse("anthropic://").withBaseUri(baseUri());
            case BEDROCK -> EngineEndpoint.parse("bedrock://us-east-1").withBaseUri(baseUri());
            default -> new EngineEndpoint(kind, baseUri());
        };
    }

    List<Received> received() {
        return List.copyOf(received);
    }

    /** Chat completions requests that are not capability probes. */
    List<Received> chats() {
        List<Received> chats = new ArrayList<>();
        for (Received one : received) {
            if (one.isChat() && !isProbe(one)) {
                chats.add(one);
            }
        }
        return chats;
    }

    /** A capability probe: one "ping" message, one token. */
    static boolean isProbe(Received request) {
        return request.isChat()
                && request.body().contains("\"content\":\"ping\"")
                && request.body().contains("\"max_tokens\":1");
    }

    @Override
    public void close() {
        server.close();
    }

    static MockResponse json(int code, String body) {
        return new MockResponse.Builder()
                .code(code)
                .addHeader("Content-Type", "application/json")
                .body(body)
                .build();
    }

    /** A server-sent event stream, sent in small chunks so that events and characters are cut apart. */
    static MockResponse sse(String stream) {
        return new MockResponse.Builder()
                .code(200)
                .addHeader("Content-Type", "text/event-stream")
                .chunkedBody(stream, 41)
                .build();
    }

    /** {@code data: <json>} events followed by {@code data: [DONE]}. */
    static String dataEvents(String... json) {
        StringBuilder out = new StringBuilder();
        for (String event : json) {
            out.append("data: ").append(event).append("\n\n");
        }
        return out.append("data: [DONE]\n\n").toString();
    }
}
