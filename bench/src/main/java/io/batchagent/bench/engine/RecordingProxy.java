package io.batchagent.bench.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.reactivestreams.Publisher;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.client.HttpClient;
import reactor.netty.http.server.HttpServer;
import reactor.netty.http.server.HttpServerRequest;
import reactor.netty.http.server.HttpServerResponse;
import reactor.netty.resources.ConnectionProvider;

/**
 * A reverse proxy in front of an engine that records every chat completion passing through it
 * ({@link ModelCall}): arrival, first token, end, and the usage the engine reported. Both conditions
 * of a benchmark (the raw loop and BatchAgent) talk to the engine through it, so their timings are
 * taken at the same point; and since it sees each agent's requests, the gap between one model call's
 * end and the same agent's next call is the orchestration time between them.
 *
 * <p>Every other request (metrics, flush, health) is forwarded unrecorded. Answers are streamed
 * through as they come, flushed as soon as those read so far are written (a chunk that comes alone at once), so
 * time to first token is not delayed. Thread-safe.
 */
public final class RecordingProxy implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern NON_EMPTY_CONTENT = Pattern.compile("\"content\":\"(?!\")");
    private static final Pattern FINISH_REASON = Pattern.compile("\"finish_reason\":\"([a-z_]+)\"");
    private static final byte[] EMPTY = new byte[0];

    private final ConnectionProvider pool;
    private final HttpClient client;
    private final DisposableServer server;
    private final ConcurrentLinkedQueue<ModelCall> calls = new ConcurrentLinkedQueue<>();
    private volatile String tag = "";

    private RecordingProxy(URI upstream) {
        this.pool = ConnectionProvider.builder("bench-proxy")
                .maxConnections(2048)
                .pendingAcquireMaxCount(-1)
                .maxIdleTime(Duration.ofSeconds(20))
                .build();
        String base = upstream.toString().replaceAll("/+$", "");
        this.client = HttpClient.create(pool).baseUrl(base).responseTimeout(Duration.ofMinutes(10));
        this.server = HttpServer.create()
                .host("127.0.0.1")
                .port(0)
                .handle(this::handle)
                .bindNow(Duration.ofSeconds(10));
    }

    /** Starts a proxy on a free local port in front of {@code upstream} (an http(s) base URL, no {@code /v1}). */
    public static RecordingProxy start(URI upstream) {
        return new RecordingProxy(upstream);
    }

    public int port() {
        return server.port();
    }

    /** {@code http://127.0.0.1:port}. */
    public String baseUrl() {
        return "http://127.0.0.1:" + port();
    }

    /** Labels the calls that arrive from now on. */
    public void tag(String value) {
        this.tag = value;
    }

    /** The calls recorded since the last drain, in completion order; forgets them. */
    public List<ModelCall> drain() {
        List<ModelCall> out = new ArrayList<>();
        for (ModelCall call; (call = calls.poll()) != null; ) {
            out.add(call);
        }
        return out;
    }

    private Publisher<Void> handle(HttpServerRequest request, HttpServerResponse response) {
        long arrived = System.nanoTime();
        String uri = request.uri();
        HttpMethod method = request.method();
        boolean chat = method.equals(HttpMethod.POST) && uri.startsWith("/v1/chat/completions");
        String label = tag;
        return request.receive().aggregate().asByteArray().defaultIfEmpty(EMPTY).flatMap(body -> {
            Probe probe = chat ? new Probe(label, arrived, body) : null;
            HttpClient upstream = client.headers(h -> {
                for (var name :
                        List.of(HttpHeaderNames.CONTENT_TYPE, HttpHeaderNames.AUTHORIZATION, HttpHeaderNames.ACCEPT)) {
                    String value = request.requestHeaders().get(name);
                    if (value != null) {
                        h.set(name, value);
                    }
                }
            });
            HttpClient.RequestSender sender = upstream.request(method).uri(uri);
            HttpClient.ResponseReceiver<?> receiver = body.length == 0
                    ? sender
                    : sender.send(Mono.fromSupplier(() -> io.netty.buffer.Unpooled.wrappedBuffer(body)));
            return receiver.response((answer, content) -> {
                        response.status(answer.status());
                        String type = answer.responseHeaders().get(HttpHeaderNames.CONTENT_TYPE);
                        if (type != null) {
                            response.header(HttpHeaderNames.CONTENT_TYPE, type);
                        }
                        if (probe != null) {
                            probe.status = answer.status().code();
                        }
                        Flux<ByteBuf> chunks = content.retain();
                        if (probe != null) {
                            chunks = chunks.doOnNext(probe::onChunk);
                        }
                        // Flushed once the chunks read so far are written: one that comes alone leaves at once.
                        return response.send(chunks);
                    })
                    .then()
                    .doFinally(signal -> {
                        if (probe != null) {
                            calls.add(probe.finish(System.nanoTime()));
                        }
                    });
        });
    }

    @Override
    public void close() {
        server.disposeNow(Duration.ofSeconds(5));
        pool.disposeLater().block(Duration.ofSeconds(5));
    }

    /** What one call's answer showed so far; fed by one netty thread at a time. */
    static final class Probe {
        private final String tag;
        private final long arrived;
        private final byte[] body;
        private final StringBuilder pending = new StringBuilder();
        private final StringBuilder whole = new StringBuilder();
        private boolean eventStream;
        private boolean sawFirstChunk;
        int status;
        long firstToken;
        long promptTokens = -1;
        long cachedTokens = -1;
        long completionTokens = -1;
        String finishReason;

        Probe(String tag, long arrived, byte[] body) {
            this.tag = tag;
            this.arrived = arrived;
            this.body = body;
        }

        void onChunk(ByteBuf chunk) {
            onText(chunk.toString(StandardCharsets.UTF_8), System.nanoTime());
        }

        void onText(String text, long now) {
            if (!sawFirstChunk) {
                sawFirstChunk = true;
                eventStream = text.startsWith("data:") || text.startsWith(":") || text.startsWith("event:");
            }
            if (!eventStream) {
                whole.append(text);
                return;
            }
            pending.append(text);
            int newline;
            while ((newline = pending.indexOf("\n")) >= 0) {
                String line = pending.substring(0, newline).trim();
                pending.delete(0, newline + 1);
                if (line.startsWith("data:")) {
                    onEvent(line.substring(5).trim(), now);
                }
            }
        }

        private void onEvent(String data, long now) {
            if (data.equals("[DONE]")) {
                return;
            }
            if (firstToken == 0
                    && (data.contains("\"tool_calls\":[")
                            || NON_EMPTY_CONTENT.matcher(data).find())) {
                firstToken = now;
            }
            Matcher finish = FINISH_REASON.matcher(data);
            if (finish.find()) {
                finishReason = finish.group(1);
            }
            if (data.contains("\"usage\":{")) {
                readUsage(data);
            }
        }

        private void readUsage(String json) {
            try {
                JsonNode usage = JSON.readTree(json).path("usage");
                if (usage.isObject()) {
                    promptTokens = usage.path("prompt_tokens").asLong(-1);
                    completionTokens = usage.path("completion_tokens").asLong(-1);
                    JsonNode cached = usage.path("prompt_tokens_details").path("cached_tokens");
                    cachedTokens = cached.isNumber() ? cached.asLong() : -1;
                }
            } catch (IOException ignored) {
                // Not JSON: the caller sees the engine's own answer; usage stays unknown.
            }
        }

        ModelCall finish(long end) {
            if (!eventStream && whole.length() > 0) {
                readUsage(whole.toString());
                Matcher finish = FINISH_REASON.matcher(whole);
                if (finish.find()) {
                    finishReason = finish.group(1);
                }
            }
            return ModelCall.of(
                    tag,
                    arrived,
                    firstToken,
                    end,
                    status,
                    promptTokens,
                    cachedTokens,
                    completionTokens,
                    finishReason,
                    body);
        }
    }
}
