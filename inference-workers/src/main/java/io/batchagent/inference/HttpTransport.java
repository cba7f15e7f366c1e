package io.batchagent.inference;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import java.io.IOException;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import reactor.core.publisher.Mono;
import reactor.netty.ByteBufFlux;
import reactor.netty.http.client.HttpClient;
import reactor.netty.http.client.HttpClientResponse;
import reactor.netty.http.client.PrematureCloseException;
import reactor.netty.resources.ConnectionProvider;

/**
 * The HTTP side of the engine clients that speak HTTP themselves (OpenAI-compatible engines, the OpenAI
 * and Anthropic APIs): a pooled reactor-netty client, one attempt of a model call at a time (retries are
 * {@link EngineRetry}'s), and small non-retried calls for probes, metrics and cache flushes.
 *
 * <p>The pool holds {@link InferenceWorkerConfig#maxInflight()} connections plus a few for probes, so calls
 * within a worker's bound never queue for a connection. Headers given at construction (the API key) go
 * on every request and are never logged.
 *
 * <p>Thread-safe. {@link #close()} releases the pool.
 */
final class HttpTransport implements AutoCloseable {

    /** Reads an engine's 2xx answer: an event stream or a whole body. */
    interface AnswerReader {
        /** A parser for one streamed answer. */
        StreamParser stream(long startNanos);

        /** Parses a whole (non-streamed) answer. */
        ChatResponse parseBody(String body, long startNanos);
    }

    /** Parses one streamed answer, fed chunk by chunk. Not thread-safe. */
    interface StreamParser {
        void feed(byte[] chunk);

        /** The answer once the stream ended; a failure if it ended early or carried an error. */
        ChatResponse finish();
    }

    /** A small call's answer. */
    record HttpReply(int status, String contentType, String body) {
        boolean ok() {
            return status >= 200 && status < 300;
        }
    }

    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    // Servers and proxies drop idle keep-alive connections; reusing one of those fails the next call.
    private static final Duration MAX_IDLE = Duration.ofSeconds(20);
    private static final int SPARE_CONNECTIONS = 4;

    private final EngineEndpoint endpoint;
    private final InferenceWorkerConfig config;
    private final ConnectionProvider connections;
    private final HttpClient http;

    /**
     * @param headers sent on every request (content type, API key, API version); values are secrets as far
     *     as logging goes
     */
    HttpTransport(String name, EngineEndpoint endpoint, InferenceWorkerConfig config, Map<String, String> headers) {
        this.endpoint = endpoint;
        this.config = config;
        this.connections = ConnectionProvider.builder(name)
                .maxConnections(config.maxInflight() + SPARE_CONNECTIONS)
                // Requests beyond the pool (retries racing new calls) wait rather than fail.
                .pendingAcquireMaxCount(-1)
                .pendingAcquireTimeout(config.engineTimeout())
                .maxIdleTime(MAX_IDLE)
                .build();
        this.http = HttpClient.create(connections)
                .baseUrl(endpoint.baseUri().getScheme() + "://"
                        + endpoint.baseUri().getRawAuthority())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) CONNECT_TIMEOUT.toMillis())
                .headers(h -> {
                    h.set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
                    headers.forEach(h::set);
                });
    }

    EngineEndpoint endpoint() {
        return endpoint;
    }

    /**
     * One attempt of a model call: POST {@code body} to {@code path}, read the answer with {@code reader}
     * (by its content type: {@code text/event-stream} is streamed). Fails with an {@link AttemptFailure}:
     * retriable for {@link EngineMessages#RETRIED_STATUSES}, refused connections, connections lost
     * mid-answer and answers the reader marks retriable; not for other statuses and for
     * {@link InferenceWorkerConfig#engineTimeout()}.
     */
    CompletableFuture<ChatResponse> postOnce(
            String path, Map<String, String> headers, byte[] body, AnswerReader reader, long startNanos) {
        String request = "POST " + endpoint.baseUri().getScheme() + "://"
                + endpoint.baseUri().getRawAuthority() + path;
        return http.post()
                .uri(path)
                .send((outbound, out) -> {
                    headers.forEach(outbound::header);
                    outbound.header(HttpHeaderNames.CONTENT_LENGTH, String.valueOf(body.length));
                    return out.send(Mono.fromSupplier(() -> Unpooled.wrappedBuffer(body)));
                })
                .response((response, bytes) -> read(response, bytes, reader, startNanos, request))
                .next()
                .switchIfEmpty(Mono.error(() -> new AttemptFailure(
                        null,
                        "the engine closed the connection without an answer (" + request + ")",
                        null,
                        true,
                        null)))
                .timeout(
                        config.engineTimeout(),
                        Mono.error(() -> new TimeoutException(EngineFailure.TIMEOUT_MESSAGE
                                + config.engineTimeout().toMillis() + " ms")))
                .onErrorMap(error -> !(error instanceof AttemptFailure), error -> classify(error, request))
                .flatMap(answer -> answer.isFailure() && answer.failure().retriable()
                        ? Mono.<ChatResponse>error(AttemptFailure.of(answer.failure()))
                        : Mono.just(answer))
                .toFuture();
    }

    /** A small call (probe, metrics, flush), not retried; fails only on network errors and the timeout. */
    CompletableFuture<HttpReply> exchange(
            HttpMethod method, String path, Map<String, String> headers, String body, Duration timeout) {
        byte[] bytes = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        return http.request(method)
                .uri(path)
                .send((outbound, out) -> {
                    headers.forEach(outbound::header);
                    if (method != HttpMethod.GET) {
                        outbound.header(HttpHeaderNames.CONTENT_LENGTH, String.valueOf(bytes.length));
                    }
                    return bytes.length == 0 ? out : out.send(Mono.fromSupplier(() -> Unpooled.wrappedBuffer(bytes)));
                })
                .responseSingle((response, content) -> content.asString(StandardCharsets.UTF_8)
                        .defaultIfEmpty("")
                        .map(text -> new HttpReply(
                                response.status().code(),
                                response.responseHeaders().get(HttpHeaderNames.CONTENT_TYPE, ""),
                                text)))
                .timeout(timeout)
                .toFuture();
    }

    private Mono<ChatResponse> read(
            HttpClientResponse response, ByteBufFlux bytes, AnswerReader reader, long start, String request) {
        int status = response.status().code();
        if (status < 200 || status >= 300) {
            return bytes.aggregate()
                    .asString(StandardCharsets.UTF_8)
                    .defaultIfEmpty("")
                    .flatMap(text -> Mono.error(AttemptFailure.http(
                            status,
                            response.status().reasonPhrase(),
                            request,
                            text,
                            EngineMessages.retryAfter(
                                    name -> response.responseHeaders().get(name)))));
        }
        String contentType = response.responseHeaders().get(HttpHeaderNames.CONTENT_TYPE, "");
        if (contentType.toLowerCase(Locale.ROOT).startsWith("text/event-stream")) {
            StreamParser parser = reader.stream(start);
            return bytes.asByteArray().doOnNext(parser::feed).then(Mono.fromSupplier(parser::finish));
        }
        return bytes.aggregate()
                .asString(StandardCharsets.UTF_8)
                .defaultIfEmpty("")
                .map(text -> reader.parseBody(text, start));
    }

    /** Turns a network-level error into an attempt failure, deciding whether it is worth retrying. */
    private AttemptFailure classify(Throwable error, String request) {
        if (error instanceof TimeoutException) {
            return new AttemptFailure(null, error.getMessage() + " (" + request + ")", null, false, null);
        }
        if (causedBy(error, ConnectException.class) || causedBy(error, ConnectTimeoutException.class)) {
            return new AttemptFailure(
                    null,
                    "cannot connect to the engine at " + endpoint.baseUri(),
                    EngineRetry.describe(error),
                    true,
                    null);
        }
        if (causedBy(error, PrematureCloseException.class) || causedBy(error, IOException.class)) {
            return new AttemptFailure(
                    null,
                    "the connection to the engine was lost before the answer was complete (" + request + ")",
                    EngineRetry.describe(error),
                    true,
                    null);
        }
        return new AttemptFailure(
                OptionalInt.empty(), "engine call failed (" + request + ")", EngineRetry.describe(error), false, null);
    }

    /** Walks the cause chain: reactor and netty wrap the socket's exception. */
    private static boolean causedBy(Throwable error, Class<? extends Throwable> type) {
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (type.isInstance(t)) {
                return true;
            }
        }
        return false;
    }

    /** Releases the connection pool, waiting up to 5 s for connections in use. */
    @Override
    public void close() {
        connections.disposeLater().block(Duration.ofSeconds(5));
    }
}
