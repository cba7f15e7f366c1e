package io.batchagent.inference;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.netty.ByteBufFlux;
import reactor.netty.http.client.HttpClient;
import reactor.netty.http.client.HttpClientResponse;
import reactor.netty.resources.ConnectionProvider;
import reactor.util.retry.Retry;

/**
 * An {@link EngineClient} for OpenAI-compatible chat completions servers (vLLM, SGLang, Dynamo's
 * frontend, the engine simulator): {@code POST {base}/v1/chat/completions} over a pooled
 * reactor-netty connection, reading either a server-sent event stream or a plain JSON answer
 * (chosen by the response's content type, so a body with {@code "stream": false} works too).
 *
 * <p>Failures are data (see {@link EngineClient}). Connection failures and HTTP 429, 502, 503 and 504
 * are retried with exponential backoff up to {@link InferenceWorkerConfig#maxAttempts()} attempts;
 * other statuses (other 4xx, 500) and timeouts are not, and become a failure with the status and an
 * excerpt of the body. Each attempt is bounded by {@link InferenceWorkerConfig#engineTimeout()}.
 *
 * <p>The connection pool holds at least {@link InferenceWorkerConfig#maxInflight()} connections, so
 * calls within the worker's bound never queue for a connection. The API key, if any, is sent as
 * {@code Authorization: Bearer} and never logged.
 *
 * <p>Thread-safe. {@link #close()} releases the pool; calls after it fail.
 */
public final class OpenAiCompatibleClient implements EngineClient, AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(OpenAiCompatibleClient.class);

    private static final Set<Integer> RETRIED_STATUSES = Set.of(429, 502, 503, 504);
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    // Servers and proxies drop idle keep-alive connections; reusing one of those fails the next call.
    private static final Duration MAX_IDLE = Duration.ofSeconds(20);

    private final EngineEndpoint endpoint;
    private final InferenceWorkerConfig config;
    private final ConnectionProvider connections;
    private final HttpClient http;
    private final LongSupplier nanoTime = System::nanoTime;

    /**
     * @param endpoint where the engine listens
     * @param config the engine timeout, retries, backoff, pool size and API key are taken from it
     */
    public OpenAiCompatibleClient(EngineEndpoint endpoint, InferenceWorkerConfig config) {
        this.endpoint = endpoint;
        this.config = config;
        this.connections = ConnectionProvider.builder("batchagent-engine")
                .maxConnections(config.maxInflight())
                // Requests beyond the pool (retries racing new calls) wait rather than fail.
                .pendingAcquireMaxCount(-1)
                .pendingAcquireTimeout(config.engineTimeout())
                .maxIdleTime(MAX_IDLE)
                .build();
        String apiKey = config.engineApiKey();
        this.http = HttpClient.create(connections)
                .baseUrl(endpoint.baseUri().getScheme() + "://" + endpoint.baseUri().getRawAuthority())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) CONNECT_TIMEOUT.toMillis())
                .headers(headers -> {
                    headers.set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
                    if (apiKey != null) {
                        headers.set(HttpHeaderNames.AUTHORIZATION, "Bearer " + apiKey);
                    }
                });
    }

    public EngineEndpoint endpoint() {
        return endpoint;
    }

    @Override
    public CompletableFuture<ChatResponse> complete(ChatRequest request) {
        long start = nanoTime.getAsLong();
        AtomicInteger attempts = new AtomicInteger();
        return Mono.defer(() -> attempt(request, start, attempts.incrementAndGet()))
                .retryWhen(Retry.backoff(config.maxRetries(), config.retryBackoff())
                        .maxBackoff(InferenceWorkerConfig.MAX_BACKOFF)
                        .filter(OpenAiCompatibleClient::isRetriable)
                        .doBeforeRetry(signal -> LOGGER.warn(
                                "engine call attempt {} failed, retrying: jobId={} turn={} model={} cause={}",
                                signal.totalRetries() + 1, request.jobId(), request.turn(), request.model(),
                                describe(signal.failure())))
                        .onRetryExhaustedThrow((spec, signal) -> signal.failure()))
                .onErrorResume(error -> Mono.just(ChatResponse.failed(failureOf(error, attempts.get()), elapsedMs(start))))
                .toFuture()
                // Defensive: a bug in parsing must not break the "never exceptional" contract.
                .exceptionally(error -> ChatResponse.failed(EngineFailure.other(
                        "engine call failed unexpectedly: " + describe(error), false), elapsedMs(start)));
    }

    private Mono<ChatResponse> attempt(ChatRequest request, long start, int attempt) {
        LOGGER.debug("engine call: jobId={} turn={} model={} attempt={} bytes={}",
                request.jobId(), request.turn(), request.model(), attempt, request.body().length);
        return http.post()
                .uri(endpoint.chatCompletionsPath())
                .send(Mono.fromSupplier(() -> Unpooled.wrappedBuffer(request.body())))
                .response((response, body) -> read(response, body, start))
                .next()
                .switchIfEmpty(Mono.error(() -> new IllegalStateException("the engine closed the connection without an answer")))
                .timeout(config.engineTimeout(), Mono.error(() -> new TimeoutException(
                        "no complete answer from the engine within " + config.engineTimeout().toMillis() + " ms")));
    }

    private Mono<ChatResponse> read(HttpClientResponse response, ByteBufFlux body, long start) {
        int status = response.status().code();
        if (status < 200 || status >= 300) {
            return body.aggregate().asString(StandardCharsets.UTF_8).defaultIfEmpty("")
                    .flatMap(text -> Mono.error(new HttpStatusException(status, response.status().reasonPhrase(), text)));
        }
        String contentType = response.responseHeaders().get(HttpHeaderNames.CONTENT_TYPE, "");
        if (contentType.toLowerCase(Locale.ROOT).startsWith("text/event-stream")) {
            ChatCompletionParser parser = new ChatCompletionParser(start, nanoTime);
            return body.asByteArray().doOnNext(parser::feed).then(Mono.fromSupplier(parser::finish));
        }
        return body.aggregate().asString(StandardCharsets.UTF_8).defaultIfEmpty("")
                .map(text -> ChatCompletionParser.parseBody(text, start, nanoTime));
    }

    private EngineFailure failureOf(Throwable error, int attempts) {
        String tries = attempts > 1 ? " (" + attempts + " attempts)" : "";
        if (error instanceof HttpStatusException e) {
            return EngineFailure.http(e.status, "engine answered HTTP " + e.status + " " + e.reason + " to POST "
                    + endpoint.chatCompletionsUrl() + tries + ": " + ChatCompletionParser.excerpt(e.body),
                    RETRIED_STATUSES.contains(e.status));
        }
        if (isConnectFailure(error)) {
            return EngineFailure.other("cannot connect to the engine at " + endpoint.baseUri() + tries + ": "
                    + describe(error), true);
        }
        if (error instanceof TimeoutException) {
            return EngineFailure.other(error.getMessage() + " (POST " + endpoint.chatCompletionsUrl() + ")", true);
        }
        return EngineFailure.other("engine call to " + endpoint.chatCompletionsUrl() + " failed" + tries + ": "
                + describe(error), false);
    }

    private static boolean isRetriable(Throwable error) {
        if (error instanceof HttpStatusException e) {
            return RETRIED_STATUSES.contains(e.status);
        }
        return isConnectFailure(error);
    }

    /** Walks the cause chain: reactor and netty wrap the socket's exception. */
    private static boolean isConnectFailure(Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof ConnectException || t instanceof ConnectTimeoutException) {
                return true;
            }
        }
        return false;
    }

    private static String describe(Throwable error) {
        Throwable root = error;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage();
        return root.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }

    private long elapsedMs(long start) {
        return TimeUnit.NANOSECONDS.toMillis(Math.max(0, nanoTime.getAsLong() - start));
    }

    /** Releases the connection pool, waiting up to 5 s for connections in use. */
    @Override
    public void close() {
        connections.disposeLater().block(Duration.ofSeconds(5));
    }

    /** A non-2xx answer; internal, turned into an {@link EngineFailure}. */
    private static final class HttpStatusException extends RuntimeException {
        final int status;
        final String reason;
        final String body;

        HttpStatusException(int status, String reason, String body) {
            super("HTTP " + status + " " + reason, null, false, false);
            this.status = status;
            this.reason = reason;
            this.body = body;
        }
    }
}
