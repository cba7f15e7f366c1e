package io.batchagent.gateway;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.events.WarmUpOutcome;
import io.batchagent.inference.ChatRequest;
import io.batchagent.inference.ChatResponse;
import io.batchagent.inference.CloseableEngineClient;
import io.batchagent.inference.EngineCapabilities;
import io.batchagent.inference.EngineClient;
import io.batchagent.inference.EngineClients;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.inference.SchedulingHints;
import io.batchagent.inference.WarmUpReport;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.reactivestreams.Publisher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import reactor.netty.http.server.HttpServerRequest;
import reactor.netty.http.server.HttpServerResponse;

/**
 * An OpenAI-compatible HTTP endpoint served by BatchAgent in front of the engine, for agents BatchAgent
 * does not run itself (OpenCode and other coding agents): they get what BatchAgent's own agents get.
 *
 * <p><b>Endpoints.</b> {@code POST .../v1/chat/completions} (streamed or not) and {@code GET .../v1/models}
 * under three prefixes that say whom a call is for: {@code /batches/{batchId}/jobs/{jobId}}, {@code /jobs/{jobId}}
 * (batch {@value #DEFAULT_BATCH}) and none (job {@value #ANONYMOUS_JOB}). {@code POST
 * /batches/{batchId}/warm-up/v1/chat/completions} warms a batch's shared prefix (below). {@code GET /health}.
 *
 * <p><b>Forwarding.</b> Calls go to the engine through the same {@link EngineClient} the inference workers
 * use (retries, timeouts, failure classification, API key). The engine is always asked to stream, so that
 * time to first token is measured; the client gets the answer in the form it asked for, written by
 * {@link ChatCompletionWriter}: the text and each tool call's id, name and argument bytes as the engine
 * produced them; a stream is sent once the answer is complete. An engine failure is answered with the
 * engine's status (502 when it gave none, 504 for a timeout) and an OpenAI-style error body.
 *
 * <p><b>Bound and priority.</b> At most {@link GatewayConfig#maxInflight()} calls are at the engine at once,
 * for all clients together; the rest wait in the gateway, a job's later calls (a session's next step)
 * before any job's first call, then in arrival order. The semantic priority also goes to engines that take
 * one ({@link EngineHints}).
 *
 * <p><b>Accounting.</b> Prompt, cached and completion tokens, time to first token, queueing and engine time
 * are attributed to the job named by the path ({@link #usage(String)}); the first call of each session of a
 * batch is also compared with the batch's other sessions' ({@link #prefixSharing(String)}).
 *
 * <p><b>Warm-up.</b> A call to the warm-up path is sent to the engine with one output token, then probed
 * (like the inference workers' warm-up) until the engine reports at least half of it cached, or the warm-up
 * timeout passes; the client then gets a short final answer (finish reason {@code stop}) instead of the
 * model's, so an agent session pointed at that path ends after its first call. The outcome is in
 * {@link #warmUpReport(String)}.
 *
 * <p><b>Access.</b> Loopback clients, plus the configured addresses; with an access token configured,
 * only callers presenting it. Request and answer bodies and the token are never logged.
 *
 * <p>Thread-safe. {@link #close()} stops the server (and the engine client if the gateway created it).
 */
public final class Gateway implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(Gateway.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The batch of calls whose path names none. */
    public static final String DEFAULT_BATCH = "default";
    /** The job of calls whose path names none. */
    public static final String ANONYMOUS_JOB = "anonymous";
    /** Warm-up calls of batch {@code b} are accounted to job {@code warm-up:b}. */
    public static final String WARM_UP_JOB_PREFIX = "warm-up:";

    private static final int WARM_UP_PRIORITY = Integer.MAX_VALUE;
    private static final long FIRST_PROBE_PAUSE_MS = 50;
    private static final long MAX_PROBE_PAUSE_MS = 1_000;

    /** What to answer a client: status, content type, body. */
    private record Reply(int status, String contentType, byte[] body) {
        static Reply error(int status, String message, String type, String code) {
            return new Reply(status, "application/json", ChatCompletionWriter.error(message, type, code));
        }
    }

    /** Thrown while reading a request body past the limit. */
    private static final class BodyTooLarge extends RuntimeException {
        BodyTooLarge() {
            super("request body too large", null, false, false);
        }
    }

    private final GatewayConfig config;
    private final EngineClient engine;
    private final EngineEndpoint.Kind kind;
    private final CloseableEngineClient owned;
    private final ClientPolicy policy;
    private final InflightGate gate;
    private final UsageLedger ledger = new UsageLedger();
    private final PrefixSharing sharing = new PrefixSharing();
    private final Map<String, WarmUpReport> warmUps = new ConcurrentHashMap<>();
    private final AtomicLong answerIds = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    private final DisposableServer server;

    private Gateway(GatewayConfig config, EngineClient engine, EngineEndpoint.Kind kind, CloseableEngineClient owned) {
        if (!kind.speaksChatCompletions()) {
            throw new IllegalArgumentException(
                    "the gateway forwards OpenAI chat completions; a " + kind.scheme() + " engine does not take them");
        }
        this.config = config;
        this.engine = engine;
        this.kind = kind;
        this.owned = owned;
        this.policy = new ClientPolicy(config.allowedClients(), config.accessToken());
        this.gate = new InflightGate(config.maxInflight());
        this.server = HttpServer.create()
                .host(config.host())
                .port(config.port())
                .route(routes -> routes.get(
                                "/health",
                                (request, response) -> response.status(200).send())
                        .get("/v1/models", this::models)
                        .get("/jobs/{jobId}/v1/models", this::models)
                        .get("/batches/{batchId}/jobs/{jobId}/v1/models", this::models)
                        .get("/batches/{batchId}/warm-up/v1/models", this::models)
                        .post(
                                "/v1/chat/completions",
                                (request, response) -> chat(request, response, DEFAULT_BATCH, ANONYMOUS_JOB, false))
                        .post(
                                "/jobs/{jobId}/v1/chat/completions",
                                (request, response) ->
                                        chat(request, response, DEFAULT_BATCH, param(request, "jobId"), false))
                        .post(
                                "/batches/{batchId}/jobs/{jobId}/v1/chat/completions",
                                (request, response) -> chat(
                                        request, response, param(request, "batchId"), param(request, "jobId"), false))
                        .post("/batches/{batchId}/warm-up/v1/chat/completions", (request, response) -> {
                            String batchId = param(request, "batchId");
                            return chat(request, response, batchId, WARM_UP_JOB_PREFIX + batchId, true);
                        })
                        .route(
                                request -> true,
                                (request, response) -> send(
                                        response,
                                        Reply.error(
                                                404,
                                                "no such endpoint: " + request.method() + " " + request.path(),
                                                "invalid_request_error",
                                                "not_found"))))
                .bindNow();
        // Probe the engine now, so that the first calls do not wait for it (and no probe runs beside them).
        engine.capabilities(config.model());
        LOGGER.info(
                "gateway listening: url={} engine={} model={} maxInflight={} allowedClients={} accessToken={}",
                baseUri(),
                kind.scheme(),
                config.model(),
                config.maxInflight(),
                config.allowedClients(),
                config.accessToken() == null ? "none" : "required");
    }

    /**
     * Starts a gateway in front of {@code endpoint}, with an engine client it creates (and closes).
     *
     * @param engineConfig timeout, retries, API key of the engine client; its pool is sized to the gateway's bound
     */
    public static Gateway start(GatewayConfig config, EngineEndpoint endpoint, InferenceWorkerConfig engineConfig) {
        CloseableEngineClient client = EngineClients.create(
                endpoint, engineConfig.withMaxInflight(Math.max(engineConfig.maxInflight(), config.maxInflight())));
        try {
            return new Gateway(config, client, endpoint.kind(), client);
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
    }

    /** Starts a gateway in front of an engine client the caller owns (and closes after the gateway). */
    public static Gateway start(GatewayConfig config, EngineClient engine, EngineEndpoint.Kind kind) {
        return new Gateway(config, engine, kind, null);
    }

    /** {@code http://host:port}. */
    public URI baseUri() {
        return URI.create("http://" + hostForUrl(server.host()) + ":" + server.port());
    }

    /** The OpenAI base URL ({@code .../v1}) whose calls are accounted to {@code jobId} of {@code batchId}. */
    public String jobBaseUrl(String batchId, String jobId) {
        return baseUri() + "/batches/" + segment(batchId) + "/jobs/" + segment(jobId) + "/v1";
    }

    /** The OpenAI base URL whose chat completions warm {@code batchId}'s shared prefix. */
    public String warmUpBaseUrl(String batchId) {
        return baseUri() + "/batches/" + segment(batchId) + "/warm-up/v1";
    }

    public GatewayConfig config() {
        return config;
    }

    /** What {@code jobId}'s calls used so far; empty for a job the gateway has not seen (or has forgotten). */
    public Optional<JobUsage> usage(String jobId) {
        return ledger.usage(jobId);
    }

    /** Every job of {@code batchId} the gateway has seen and not forgotten, its warm-up included. */
    public List<JobUsage> batchUsage(String batchId) {
        return ledger.batch(batchId);
    }

    /** Drops a job's usage entry (once its result is published). */
    public void forget(String jobId) {
        ledger.forget(jobId);
    }

    /** Drops what the gateway keeps per batch (prefix comparison, warm-up report), once the batch is done. */
    public void forgetBatch(String batchId) {
        sharing.forget(batchId);
        warmUps.remove(batchId);
    }

    /** The prefix the first calls of {@code batchId}'s sessions had in common (warm-up calls left out). */
    public PrefixReport prefixSharing(String batchId) {
        return sharing.report(batchId);
    }

    /** How {@code batchId}'s prefix was warmed; empty until a warm-up call for it was answered. */
    public Optional<WarmUpReport> warmUpReport(String batchId) {
        return Optional.ofNullable(warmUps.get(batchId));
    }

    public GatewayStats stats() {
        UsageLedger.Totals totals = ledger.totals();
        return new GatewayStats(
                gate.slots(),
                gate.inFlight(),
                gate.peakInFlight(),
                gate.waiting(),
                gate.peakWaiting(),
                totals.calls(),
                totals.failedCalls(),
                totals.promptTokens(),
                totals.cachedPromptTokens(),
                totals.completionTokens(),
                refused.get());
    }

    // ---------------------------------------------------------------------------------------------- HTTP

    private Publisher<Void> models(HttpServerRequest request, HttpServerResponse response) {
        Reply refusal = admit(request);
        if (refusal != null) {
            return send(response, refusal);
        }
        return Mono.fromFuture(engine.capabilities(config.model()).thenApply(Function.identity()))
                .map(capabilities -> {
                    List<String> listed =
                            capabilities.models().isEmpty() ? List.of(config.model()) : capabilities.models();
                    ObjectNode root = JSON.createObjectNode().put("object", "list");
                    com.fasterxml.jackson.databind.node.ArrayNode data = root.putArray("data");
                    long created = System.currentTimeMillis() / 1000;
                    listed.forEach(id -> data.addObject()
                            .put("id", id)
                            .put("object", "model")
                            .put("created", created)
                            .put("owned_by", "batchagent-gateway"));
                    return new Reply(200, "application/json", root.toString().getBytes(StandardCharsets.UTF_8));
                })
                .flatMap(reply -> Mono.from(send(response, reply)));
    }

    private Publisher<Void> chat(
            HttpServerRequest request, HttpServerResponse response, String batchId, String jobId, boolean warmUp) {
        Reply refusal = admit(request);
        if (refusal != null) {
            return send(response, refusal);
        }
        String length = request.requestHeaders().get("Content-Length");
        if (length != null && length.matches("\\d{1,18}") && Long.parseLong(length) > config.maxRequestBytes()) {
            refused.incrementAndGet();
            return send(response, tooLarge());
        }
        return readBody(request)
                .flatMap(body ->
                        Mono.fromFuture(() -> warmUp ? warmUpSession(batchId, body) : forward(batchId, jobId, body)))
                .onErrorResume(BodyTooLarge.class, e -> {
                    refused.incrementAndGet();
                    return Mono.just(tooLarge());
                })
                .flatMap(reply -> Mono.from(send(response, reply)));
    }

    /** A refusal for a client that may not call, or null. */
    private Reply admit(HttpServerRequest request) {
        InetSocketAddress remote = request.remoteAddress();
        if (remote == null || !policy.allows(remote.getAddress())) {
            refused.incrementAndGet();
            LOGGER.warn(
                    "gateway call refused, client not allowed: client={}",
                    remote == null ? "unknown" : remote.getAddress());
            return Reply.error(
                    403, "this client may not use the BatchAgent gateway", "permission_error", "client_not_allowed");
        }
        if (!policy.authorized(request.requestHeaders().get("Authorization"))) {
            refused.incrementAndGet();
            LOGGER.warn("gateway call refused, no valid access token: client={}", remote.getAddress());
            return Reply.error(
                    401, "a valid gateway access token is required", "authentication_error", "invalid_api_key");
        }
        return null;
    }

    private Mono<byte[]> readBody(HttpServerRequest request) {
        int limit = config.maxRequestBytes();
        return request.receive()
                .asByteArray()
                .reduceWith(ByteArrayOutputStream::new, (out, chunk) -> {
                    if (out.size() + chunk.length > limit) {
                        throw new BodyTooLarge();
                    }
                    out.writeBytes(chunk);
                    return out;
                })
                .map(ByteArrayOutputStream::toByteArray)
                .defaultIfEmpty(new byte[0]);
    }

    private Reply tooLarge() {
        return Reply.error(
                413,
                "the request body is larger than " + config.maxRequestBytes() + " bytes",
                "invalid_request_error",
                "request_too_large");
    }

    private static Publisher<Void> send(HttpServerResponse response, Reply reply) {
        return response.status(reply.status())
                .header("Content-Type", reply.contentType())
                .header("Cache-Control", "no-cache")
                .header("Content-Length", String.valueOf(reply.body().length))
                .sendByteArray(Mono.just(reply.body()))
                .then();
    }

    // ---------------------------------------------------------------------------------------- forwarding

    /** A client's parsed request, or the 400 to answer it with. */
    private record Parsed(ObjectNode body, Reply invalid) {}

    private Parsed parse(byte[] bytes) {
        JsonNode root;
        try {
            root = JSON.readTree(bytes);
        } catch (java.io.IOException e) {
            return new Parsed(
                    null, Reply.error(400, "the request body is not JSON", "invalid_request_error", "invalid_json"));
        }
        if (!(root instanceof ObjectNode body)) {
            return new Parsed(
                    null,
                    Reply.error(
                            400, "the request body must be a JSON object", "invalid_request_error", "invalid_type"));
        }
        if (!body.path("messages").isArray() || body.path("messages").isEmpty()) {
            return new Parsed(
                    null,
                    Reply.error(
                            400,
                            "'messages' must be a non-empty array",
                            "invalid_request_error",
                            "missing_required_parameter"));
        }
        return new Parsed(body, null);
    }

    private CompletableFuture<Reply> forward(String batchId, String jobId, byte[] bytes) {
        Parsed parsed = parse(bytes);
        if (parsed.invalid() != null) {
            refused.incrementAndGet();
            return CompletableFuture.completedFuture(parsed.invalid());
        }
        ObjectNode body = parsed.body();
        String model = body.path("model").asText(config.model());
        boolean clientStreams = body.path("stream").asBoolean(false);
        boolean clientWantsUsage =
                body.path("stream_options").path("include_usage").asBoolean(false);
        String rendering = PrefixSharing.render(body);
        int callNumber = ledger.begin(batchId, jobId);
        // Calls that name no job cannot be told apart by session: they all count as first calls.
        int priority = callNumber >= 2 && !jobId.equals(ANONYMOUS_JOB)
                ? SchedulingHints.CONTINUING_AGENT
                : SchedulingHints.NEW_AGENT;

        CompletableFuture<Reply> reply = new CompletableFuture<>();
        engine.capabilities(model)
                .thenApply(Function.identity())
                .thenAccept(capabilities -> {
                    streamUpstream(body);
                    EngineHints.apply(body, kind, capabilities, priority, batchId);
                    byte[] upstream = bytes(body);
                    long enqueued = System.nanoTime();
                    CompletableFuture<InflightGate.Permit> slot = gate.acquire(priority);
                    // A client that hangs up while waiting gives its place back.
                    reply.whenComplete((ignored, error) -> {
                        if (reply.isCancelled()) {
                            slot.cancel(false);
                        }
                    });
                    slot.thenCompose(permit -> {
                                long queuedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - enqueued);
                                LOGGER.debug(
                                        "gateway call forwarded: jobId={} turn={} model={} queuedMs={}",
                                        jobId,
                                        callNumber,
                                        model,
                                        queuedMs);
                                return engine.complete(new ChatRequest(jobId, callNumber, model, upstream))
                                        .whenComplete((answer, error) -> permit.close())
                                        .thenApply(answer -> {
                                            ledger.record(jobId, callNumber, answer, queuedMs);
                                            if (callNumber == 1 && !answer.isFailure()) {
                                                sharing.recordFirstCall(
                                                        batchId,
                                                        rendering,
                                                        answer.usage().promptTokens());
                                            }
                                            return answer;
                                        });
                            })
                            .whenComplete((answer, error) -> {
                                if (error != null) {
                                    reply.completeExceptionally(error);
                                } else {
                                    reply.complete(answerReply(
                                            jobId, callNumber, model, answer, clientStreams, clientWantsUsage));
                                }
                            });
                })
                .exceptionally(error -> {
                    reply.completeExceptionally(error);
                    return null;
                });
        return reply;
    }

    private Reply answerReply(
            String jobId, int callNumber, String model, ChatResponse answer, boolean stream, boolean includeUsage) {
        if (answer.isFailure()) {
            LOGGER.warn(
                    "gateway call failed at the engine: jobId={} turn={} model={} cause={}",
                    jobId,
                    callNumber,
                    model,
                    answer.failure().message());
            return Reply.error(
                    ChatCompletionWriter.status(answer.failure()),
                    answer.failure().message(),
                    answer.failure().retriable() ? "server_error" : "engine_error",
                    "engine_failure");
        }
        String id = "chatcmpl-batchagent-" + Long.toHexString(answerIds.incrementAndGet());
        long created = System.currentTimeMillis() / 1000;
        return stream
                ? new Reply(
                        200, "text/event-stream", ChatCompletionWriter.stream(answer, id, model, created, includeUsage))
                : new Reply(200, "application/json", ChatCompletionWriter.completion(answer, id, model, created));
    }

    /** Asks the engine to stream with usage, whatever the client asked: time to first token is measured then. */
    private static void streamUpstream(ObjectNode body) {
        body.put("stream", true);
        JsonNode options = body.get("stream_options");
        ObjectNode streamOptions = options instanceof ObjectNode object ? object : body.putObject("stream_options");
        streamOptions.put("include_usage", true);
    }

    // ------------------------------------------------------------------------------------------ warm-up

    /**
     * Warms {@code batchId}'s shared prefix with {@code body} (an OpenAI chat completions request whose
     * prompt starts with that prefix): sent with one output token, then probed until the engine reports
     * at least half of it cached. Never completes exceptionally; a failed warm-up is in the report.
     */
    public CompletableFuture<WarmUpReport> warmUp(String batchId, byte[] body) {
        Parsed parsed = parse(body);
        if (parsed.invalid() != null) {
            return CompletableFuture.completedFuture(new WarmUpReport(
                    batchId,
                    WarmUpOutcome.FAILED,
                    0,
                    0,
                    0,
                    0,
                    "the warm-up request is not a chat completions request"));
        }
        return runWarmUp(batchId, parsed.body()).thenApply(WarmUpOutcomeAndAnswer::report);
    }

    private record WarmUpOutcomeAndAnswer(WarmUpReport report, ChatResponse last) {}

    private CompletableFuture<Reply> warmUpSession(String batchId, byte[] bytes) {
        Parsed parsed = parse(bytes);
        if (parsed.invalid() != null) {
            refused.incrementAndGet();
            return CompletableFuture.completedFuture(parsed.invalid());
        }
        ObjectNode body = parsed.body();
        boolean stream = body.path("stream").asBoolean(false);
        boolean includeUsage = body.path("stream_options").path("include_usage").asBoolean(false);
        String model = body.path("model").asText(config.model());
        return runWarmUp(batchId, body).thenApply(outcome -> {
            ChatResponse closing = ChatResponse.answer(
                    "BatchAgent warm-up of batch " + batchId + ": " + outcome.report.outcome() + ".",
                    List.of(),
                    "stop",
                    outcome.last == null || outcome.last.isFailure() ? null : outcome.last.usage(),
                    java.util.OptionalLong.empty(),
                    outcome.report.elapsedMs());
            String id = "chatcmpl-batchagent-warm-up-" + Long.toHexString(answerIds.incrementAndGet());
            long created = System.currentTimeMillis() / 1000;
            return stream
                    ? new Reply(
                            200,
                            "text/event-stream",
                            ChatCompletionWriter.stream(closing, id, model, created, includeUsage))
                    : new Reply(200, "application/json", ChatCompletionWriter.completion(closing, id, model, created));
        });
    }

    private CompletableFuture<WarmUpOutcomeAndAnswer> runWarmUp(String batchId, ObjectNode body) {
        String jobId = WARM_UP_JOB_PREFIX + batchId;
        String model = body.path("model").asText(config.model());
        body.remove("max_completion_tokens");
        body.put("max_tokens", 1);
        body.remove("priority");
        streamUpstream(body);
        byte[] upstream = bytes(body);
        long start = System.nanoTime();
        long deadline = start + config.warmUpTimeout().toNanos();
        return engine.capabilities(model)
                .thenApply(Function.identity())
                .thenCompose(capabilities -> warmUpCall(batchId, jobId, model, upstream, deadline)
                        .thenCompose(first -> {
                            if (first == null || first.isFailure()) {
                                return done(
                                        batchId,
                                        WarmUpOutcome.FAILED,
                                        1,
                                        first,
                                        start,
                                        first == null
                                                ? "the warm-up call did not answer within "
                                                        + config.warmUpTimeout().toMillis() + " ms"
                                                : "the warm-up call failed: "
                                                        + first.failure().message());
                            }
                            if (!first.usage().cacheReported()
                                    && capabilities.reportsCachedTokens() != EngineCapabilities.Report.YES) {
                                return done(
                                        batchId,
                                        WarmUpOutcome.UNVERIFIED,
                                        1,
                                        first,
                                        start,
                                        "prefix sent; the engine reports no cached tokens, so the warm-up cannot be verified");
                            }
                            if (cached(first)) {
                                return done(
                                        batchId,
                                        WarmUpOutcome.VERIFIED,
                                        1,
                                        first,
                                        start,
                                        "the prefix was already cached");
                            }
                            return probe(
                                    batchId, jobId, model, upstream, start, deadline, 1, first, FIRST_PROBE_PAUSE_MS);
                        }))
                .exceptionally(error -> {
                    WarmUpReport report = new WarmUpReport(
                            batchId,
                            WarmUpOutcome.FAILED,
                            0,
                            0,
                            0,
                            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start),
                            "the warm-up failed unexpectedly: " + error);
                    warmUps.put(batchId, report);
                    return new WarmUpOutcomeAndAnswer(report, null);
                });
    }

    private CompletableFuture<WarmUpOutcomeAndAnswer> probe(
            String batchId,
            String jobId,
            String model,
            byte[] upstream,
            long start,
            long deadline,
            int calls,
            ChatResponse last,
            long pauseMs) {
        if (System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(pauseMs) >= deadline) {
            return done(
                    batchId,
                    WarmUpOutcome.NOT_CACHED,
                    calls,
                    last,
                    start,
                    "no probe saw the prefix cached within "
                            + config.warmUpTimeout().toMillis() + " ms (" + calls + " calls)");
        }
        return CompletableFuture.supplyAsync(
                        () -> null, CompletableFuture.delayedExecutor(pauseMs, TimeUnit.MILLISECONDS))
                .thenCompose(ignored -> warmUpCall(batchId, jobId, model, upstream, deadline))
                .thenCompose(answer -> {
                    if (answer != null && !answer.isFailure() && cached(answer)) {
                        return done(
                                batchId,
                                WarmUpOutcome.VERIFIED,
                                calls + 1,
                                answer,
                                start,
                                "a probe saw the prefix cached");
                    }
                    ChatResponse latest = answer == null || answer.isFailure() ? last : answer;
                    return probe(
                            batchId,
                            jobId,
                            model,
                            upstream,
                            start,
                            deadline,
                            calls + 1,
                            latest,
                            Math.min(MAX_PROBE_PAUSE_MS, pauseMs * 2));
                });
    }

    /** One warm-up or probe call inside an in-flight slot (ahead of every waiting call), or null past the deadline. */
    private CompletableFuture<ChatResponse> warmUpCall(
            String batchId, String jobId, String model, byte[] upstream, long deadline) {
        int callNumber = ledger.begin(batchId, jobId);
        long enqueued = System.nanoTime();
        return gate.acquire(WARM_UP_PRIORITY)
                .thenCompose(permit -> engine.complete(new ChatRequest(jobId, 0, model, upstream))
                        .whenComplete((answer, error) -> permit.close())
                        .thenApply(answer -> {
                            ledger.record(
                                    jobId,
                                    callNumber,
                                    answer,
                                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - enqueued) - answer.latencyMs());
                            return answer;
                        }))
                .thenApply(Function.identity())
                .completeOnTimeout(
                        null,
                        Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())),
                        TimeUnit.MILLISECONDS);
    }

    private static boolean cached(ChatResponse answer) {
        return answer.usage().cachedPromptTokens() > 0
                && answer.usage().cachedPromptTokens() * 2 >= answer.usage().promptTokens();
    }

    private CompletableFuture<WarmUpOutcomeAndAnswer> done(
            String batchId, WarmUpOutcome outcome, int calls, ChatResponse last, long start, String detail) {
        long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        boolean answered = last != null && !last.isFailure();
        long prompt = answered ? last.usage().promptTokens() : 0;
        long cached = answered ? last.usage().cachedPromptTokens() : 0;
        WarmUpReport report = new WarmUpReport(
                batchId,
                outcome,
                calls,
                prompt,
                cached,
                elapsedMs,
                detail + (answered ? " (" + cached + " of " + prompt + " prompt tokens cached)" : ""));
        warmUps.put(batchId, report);
        if (outcome == WarmUpOutcome.VERIFIED) {
            LOGGER.info(
                    "gateway warm-up verified: batchId={} calls={} promptTokens={} cachedTokens={} elapsedMs={}",
                    batchId,
                    calls,
                    prompt,
                    cached,
                    elapsedMs);
        } else {
            LOGGER.warn(
                    "gateway warm-up not verified, the batch proceeds: batchId={} outcome={} detail={}",
                    batchId,
                    outcome,
                    report.detail());
        }
        return CompletableFuture.completedFuture(new WarmUpOutcomeAndAnswer(report, last));
    }

    // -------------------------------------------------------------------------------------------- helpers

    private static byte[] bytes(ObjectNode body) {
        try {
            return JSON.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a JSON tree", e);
        }
    }

    private static String param(HttpServerRequest request, String name) {
        String raw = request.param(name);
        return raw == null ? "" : URLDecoder.decode(raw, StandardCharsets.UTF_8);
    }

    private static String segment(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static String hostForUrl(String host) {
        return host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
    }

    /** Stops listening (waiting up to 5 s for open exchanges), then closes the engine client if it is the gateway's. */
    @Override
    public void close() {
        server.disposeNow(Duration.ofSeconds(5));
        if (owned != null) {
            owned.close();
        }
    }
}
