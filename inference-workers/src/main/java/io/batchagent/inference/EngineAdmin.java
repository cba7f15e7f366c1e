package io.batchagent.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.handler.codec.http.HttpMethod;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An engine's administrative endpoints, for benchmarks and batch summaries: its Prometheus metrics
 * ({@link EngineMetrics}, to read before and after a batch) and its prefix-cache flush.
 *
 * <p>Cache flush, by engine:
 * <ul>
 *   <li>SGLang: {@code POST /flush_cache}. It answers 400 while requests are running or waiting; the flush
 *       is tried again every 500 ms until the timeout.
 *   <li>vLLM: {@code POST /reset_prefix_cache}, served only in dev mode ({@code VLLM_SERVER_DEV_MODE=1};
 *       404 otherwise). Versions answer 200 with an empty body, 200 with {@code {"success": false}} when the
 *       reset did not happen, or 409; the body is read, and a reset that did not happen is tried again
 *       until the timeout.
 *   <li>A generic OpenAI-compatible endpoint (the simulator): SGLang's path, then vLLM's if that is absent.
 *   <li>Dynamo and the hosted APIs: none; the result says so.
 * </ul>
 * Every method completes normally; a failure is in the result. Thread-safe. {@link #close()} releases the
 * connections.
 */
public final class EngineAdmin implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(EngineAdmin.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);
    private static final long BUSY_RETRY_MS = 500;
    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(5);

    /**
     * The outcome of a cache flush.
     *
     * @param flushed whether the engine confirmed the flush
     * @param attempts flush requests sent
     * @param detail what the engine answered, or why nothing was sent
     */
    public record CacheFlush(boolean flushed, int attempts, String detail) {}

    private final EngineEndpoint endpoint;
    private final HttpTransport transport;

    /** @param config the API key (if any) and the pool size are taken from it */
    public EngineAdmin(EngineEndpoint endpoint, InferenceWorkerConfig config) {
        this.endpoint = endpoint;
        Map<String, String> headers =
                config.engineApiKey() == null || !endpoint.kind().speaksChatCompletions()
                        ? Map.of()
                        : Map.of("Authorization", "Bearer " + config.engineApiKey());
        this.transport = new HttpTransport("batchagent-engine-admin", endpoint, config.withMaxInflight(1), headers);
    }

    /**
     * Reads the engine's prefix-cache counters; {@link EngineMetrics#NONE} for an engine without a metrics
     * page (the hosted APIs) or when the page cannot be read (logged).
     */
    public CompletableFuture<EngineMetrics> scrapeMetrics() {
        if (!hasMetricsPage()) {
            return CompletableFuture.completedFuture(EngineMetrics.NONE);
        }
        String preferred = preferredFamily();
        return transport
                .exchange(HttpMethod.GET, endpoint.path("/metrics"), Map.of(), null, CALL_TIMEOUT)
                .thenApply(reply -> {
                    if (!reply.ok()) {
                        LOGGER.warn(
                                "engine metrics not available: engine={} status={}",
                                endpoint.describe(),
                                reply.status());
                        return EngineMetrics.NONE;
                    }
                    return EngineMetrics.parse(reply.body(), preferred);
                })
                .exceptionally(error -> {
                    LOGGER.warn(
                            "engine metrics not readable: engine={} cause={}",
                            endpoint.describe(),
                            EngineRetry.describe(error));
                    return EngineMetrics.NONE;
                });
    }

    /**
     * What one look at the engine found.
     *
     * @param reachable whether the engine answered over HTTP at all (any status: a 401 or 404 still proves
     *     the network path and the server)
     * @param detail the HTTP status, or why no answer came
     * @param metrics its prefix-cache and queue figures; {@link EngineMetrics#NONE} where it has no metrics page
     */
    public record Probe(boolean reachable, String detail, EngineMetrics metrics) {}

    /**
     * Asks the engine for its metrics page ({@code GET /metrics}), or for its base path where it has none
     * (the hosted APIs), to tell whether it is reachable. Never completes exceptionally.
     */
    public CompletableFuture<Probe> probe() {
        String path = hasMetricsPage() ? endpoint.path("/metrics") : endpoint.path("/");
        String preferred = preferredFamily();
        return transport
                .exchange(HttpMethod.GET, path, Map.of(), null, PROBE_TIMEOUT)
                .thenApply(reply -> new Probe(
                        true,
                        "HTTP " + reply.status(),
                        hasMetricsPage() && reply.ok()
                                ? EngineMetrics.parse(reply.body(), preferred)
                                : EngineMetrics.NONE))
                .exceptionally(error -> new Probe(false, EngineRetry.describe(error), EngineMetrics.NONE));
    }

    /** Flushes the engine's prefix cache, waiting out "busy" answers up to {@code timeout}. */
    public CompletableFuture<CacheFlush> flushCache(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        return switch (endpoint.kind()) {
            case SGLANG -> flush("/flush_cache", deadline, 1);
            case VLLM -> flush("/reset_prefix_cache", deadline, 1);
            case OPENAI_COMPATIBLE ->
                flush("/flush_cache", deadline, 1)
                        .thenCompose(
                                result -> result.flushed() || !result.detail().startsWith("HTTP 404")
                                        ? CompletableFuture.completedFuture(result)
                                        : flush("/reset_prefix_cache", deadline, result.attempts() + 1));
            default ->
                CompletableFuture.completedFuture(
                        new CacheFlush(false, 0, endpoint.kind().scheme() + " has no cache flush endpoint"));
        };
    }

    private CompletableFuture<CacheFlush> flush(String path, long deadlineNanos, int attempt) {
        return transport
                .exchange(HttpMethod.POST, endpoint.path(path), Map.of(), null, CALL_TIMEOUT)
                .handle((reply, error) -> {
                    if (error != null) {
                        return CompletableFuture.completedFuture(new CacheFlush(
                                false, attempt, "POST " + path + " failed: " + EngineRetry.describe(error)));
                    }
                    if (reply.ok() && confirmed(reply.body())) {
                        LOGGER.info(
                                "engine cache flushed: engine={} path={} attempts={}",
                                endpoint.describe(),
                                path,
                                attempt);
                        return CompletableFuture.completedFuture(new CacheFlush(
                                true, attempt, "HTTP " + reply.status() + ": " + EngineMessages.excerpt(reply.body())));
                    }
                    String detail = "HTTP " + reply.status() + " from POST " + path + ": "
                            + EngineMessages.engineMessage(reply.body());
                    if (reply.status() == 404
                            && path.equals("/reset_prefix_cache")
                            && endpoint.kind() == EngineEndpoint.Kind.VLLM) {
                        detail += " (vLLM serves /reset_prefix_cache only with VLLM_SERVER_DEV_MODE=1)";
                    }
                    boolean busy = reply.ok() || reply.status() == 400 || reply.status() == 409;
                    if (!busy || System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(BUSY_RETRY_MS) > deadlineNanos) {
                        return CompletableFuture.completedFuture(new CacheFlush(
                                false, attempt, busy ? detail + " (still busy at the timeout)" : detail));
                    }
                    return CompletableFuture.supplyAsync(
                                    () -> null, CompletableFuture.delayedExecutor(BUSY_RETRY_MS, TimeUnit.MILLISECONDS))
                            .thenCompose(ignored -> flush(path, deadlineNanos, attempt + 1));
                })
                .thenCompose(next -> next);
    }

    /** A 200 whose body does not say {@code "success": false}. */
    private static boolean confirmed(String body) {
        if (body == null || body.isBlank()) {
            return true;
        }
        try {
            JsonNode root = JSON.readTree(body);
            return root == null
                    || !root.isObject()
                    || !root.has("success")
                    || root.get("success").asBoolean(false);
        } catch (java.io.IOException e) {
            return true;
        }
    }

    /** The metric family the endpoint's kind publishes, or null to take whichever the page has. */
    private String preferredFamily() {
        return switch (endpoint.kind()) {
            case SGLANG -> "sglang";
            case VLLM -> "vllm";
            default -> null;
        };
    }

    private boolean hasMetricsPage() {
        return switch (endpoint.kind()) {
            case SGLANG, VLLM, DYNAMO, OPENAI_COMPATIBLE -> true;
            case OPENAI, ANTHROPIC, BEDROCK -> false;
        };
    }

    @Override
    public void close() {
        transport.close();
    }
}
