package io.batchagent.simulator;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.reactivestreams.Publisher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import reactor.netty.http.server.HttpServerRequest;
import reactor.netty.http.server.HttpServerResponse;
import reactor.netty.http.server.HttpServerRoutes;

/**
 * A SIMULATED OpenAI-compatible inference engine: an HTTP server with a token-granular radix
 * prefix cache, a bounded KV pool with LRU eviction, continuous batching and per-token costs from
 * an {@link EngineProfile}, answering with a deterministic scripted "model". It stands in for
 * SGLang or vLLM where there is no GPU. Its timings, token counts and cache figures are simulated,
 * not measured: real-engine figures come from real engines.
 *
 * <p>Endpoints: {@code POST /v1/chat/completions} (streamed or not), {@code GET /v1/models},
 * {@code GET /metrics} (Prometheus, {@code sim:*}), {@code POST /flush_cache} (SGLang's name, GET
 * too) and {@code POST /reset_prefix_cache} (vLLM's name), {@code GET /health}, and
 * {@code GET|POST /admin/faults} (the SIMULATED faults injected now; POST a {@link EngineFaults#parse}
 * spec such as {@code down=true} to change them). See the module
 * README for the wire format and the scripted model's rules.
 *
 * <p>Usage: {@code try (EngineSimulator engine = EngineSimulator.start(SimulatorOptions.builder()
 * .build())) { ... engine.baseUrl() ... }}. {@link #start} returns once the port is bound.
 *
 * <p>Thread-safety: every method is safe from any thread; {@link #close()} is idempotent.
 */
public final class EngineSimulator implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(EngineSimulator.class);
    private static final Duration BIND_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration DISPOSE_TIMEOUT = Duration.ofSeconds(5);

    private final SimulatorOptions options;
    private final EngineCounters counters;
    private final BatchScheduler scheduler;
    private final List<String> captured;
    private final DisposableServer server;
    private final long startedEpochSeconds;
    private final ChatCompletionsHandler chat;
    private final AtomicBoolean closed = new AtomicBoolean();

    private EngineSimulator(
            SimulatorOptions options,
            EngineCounters counters,
            BatchScheduler scheduler,
            List<String> captured,
            DisposableServer server,
            long startedEpochSeconds,
            ChatCompletionsHandler chat) {
        this.chat = chat;
        this.options = options;
        this.counters = counters;
        this.scheduler = scheduler;
        this.captured = captured;
        this.server = server;
        this.startedEpochSeconds = startedEpochSeconds;
    }

    /**
     * Starts a simulator and binds its port.
     *
     * @throws RuntimeException when the port cannot be bound; nothing is left running then
     */
    public static EngineSimulator start(SimulatorOptions options) {
        Objects.requireNonNull(options, "options");
        EngineCounters counters = new EngineCounters();
        BatchScheduler scheduler = new BatchScheduler(options.profile(), options.speedup(), counters);
        List<String> captured = Collections.synchronizedList(new ArrayList<>());
        long started = System.currentTimeMillis() / 1000;
        try {
            ChatCompletionsHandler chat = new ChatCompletionsHandler(options, scheduler, counters, captured);
            Holder holder = new Holder();
            DisposableServer server = HttpServer.create()
                    .host(options.host())
                    .port(options.port())
                    .route(routes -> routes(routes, chat, holder))
                    .bindNow(BIND_TIMEOUT);
            EngineSimulator simulator =
                    new EngineSimulator(options, counters, scheduler, captured, server, started, chat);
            holder.simulator = simulator;
            LOGGER.info(
                    "Engine simulator (SIMULATED figures) listening url={} profile={} speedup={} model={}",
                    simulator.baseUrl(),
                    options.profile().name(),
                    options.speedup(),
                    options.modelName());
            return simulator;
        } catch (RuntimeException e) {
            scheduler.close();
            throw e;
        }
    }

    /** The server's base URL, e.g. {@code http://127.0.0.1:41234}; append {@code /v1} for OpenAI clients. */
    public String baseUrl() {
        String host = options.host();
        if (host.equals("0.0.0.0") || host.equals("::")) {
            host = "127.0.0.1";
        } else if (host.contains(":")) {
            host = "[" + host + "]";
        }
        return "http://" + host + ":" + port();
    }

    /** The bound port (the chosen one when the options asked for port 0). */
    public int port() {
        return server.port();
    }

    public SimulatorOptions options() {
        return options;
    }

    /** A snapshot of the simulated counters; see {@link SimulatorStats}. */
    public SimulatorStats stats() {
        BatchScheduler.Occupancy occupancy = scheduler.occupancy();
        return new SimulatorStats(
                counters.requests.get(),
                counters.promptTokens.get(),
                counters.cachedTokens.get(),
                counters.prefillTokensComputed.get(),
                counters.completionTokens.get(),
                counters.inFlight.get(),
                counters.peakInFlight.get(),
                occupancy.running(),
                occupancy.waiting(),
                counters.steps.get(),
                counters.emittedContextTokens.get(),
                counters.simulatedStepMillis.sum());
    }

    /**
     * Zeroes the counters; the in-flight peak restarts from the requests in flight now. The cache
     * is left as it is (see {@link #flushCache()}).
     */
    public void resetStats() {
        counters.reset();
    }

    /**
     * Evicts every cached token that no running request pins, like {@code POST /flush_cache}.
     *
     * @return tokens evicted
     */
    public long flushCache() {
        long evicted = scheduler.flushCache();
        LOGGER.debug("Prefix cache flushed evictedTokens={}", evicted);
        return evicted;
    }

    /**
     * Holds the scheduler between steps: requests are still accepted and queue (they count as in
     * flight and waiting) but none advances until {@link #resumeScheduling()}. For tests that need
     * requests held in flight deterministically.
     */
    public void pauseScheduling() {
        scheduler.pause();
    }

    /** Undoes {@link #pauseScheduling()}. */
    public void resumeScheduling() {
        scheduler.resume();
    }

    /**
     * The raw chat-completion request bodies received, in arrival order; empty unless
     * {@link SimulatorOptions#captureRequests()} is on.
     */
    public List<String> capturedRequestBodies() {
        synchronized (captured) {
            return List.copyOf(captured);
        }
    }

    /** Forgets the captured request bodies. */
    public void clearCapturedRequests() {
        captured.clear();
    }

    /**
     * Stops the scheduler (requests not finished get no answer or an error) and the server.
     * Idempotent.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        scheduler.close();
        server.disposeNow(DISPOSE_TIMEOUT);
        LOGGER.info("Engine simulator stopped port={}", server.port());
    }

    private static HttpServerRoutes routes(HttpServerRoutes routes, ChatCompletionsHandler chat, Holder holder) {
        return routes.post("/v1/chat/completions", chat::handle)
                .get("/v1/models", drained(response -> holder.get().models(response)))
                .get("/metrics", drained(response -> holder.get().metrics(response)))
                .post("/flush_cache", drained(response -> holder.get().flush(response, "Cache flushed.\n")))
                .get("/flush_cache", drained(response -> holder.get().flush(response, "Cache flushed.\n")))
                .post("/reset_prefix_cache", drained(response -> holder.get().flush(response, "")))
                .get(
                        "/health",
                        drained(response ->
                                Mono.from(response.status(HttpResponseStatus.OK).send())))
                .get("/admin/faults", drained(response -> holder.get().faultsPage(response)))
                .post(
                        "/admin/faults",
                        (request, response) -> request.receive()
                                .aggregate()
                                .asString(StandardCharsets.UTF_8)
                                .defaultIfEmpty("")
                                .flatMap(body -> holder.get().changeFaults(body, response)))
                .route(
                        request -> true,
                        (request, response) -> request.receive()
                                .then(Mono.defer(() -> ChatCompletionsHandler.send(
                                        response,
                                        HttpResponseStatus.NOT_FOUND,
                                        OpenAiWire.error(
                                                "no route for " + request.method() + " " + request.uri(),
                                                "invalid_request_error",
                                                "not_found",
                                                null)))));
    }

    /**
     * Reads the request to its end before answering: a response that completes while the request
     * is still arriving can leave a kept-alive connection stuck for the next request.
     */
    private static BiFunction<HttpServerRequest, HttpServerResponse, Publisher<Void>> drained(
            Function<HttpServerResponse, Mono<Void>> handler) {
        return (request, response) -> request.receive().then(Mono.defer(() -> handler.apply(response)));
    }

    private Mono<Void> models(HttpServerResponse response) {
        ObjectNode root = Json.NODES.objectNode();
        root.put("object", "list");
        ObjectNode model = root.putArray("data").addObject();
        model.put("id", options.modelName());
        model.put("object", "model");
        model.put("created", startedEpochSeconds);
        model.put("owned_by", "batchagent-engine-simulator");
        model.put("max_model_len", options.profile().kvCapacityTokens());
        return ChatCompletionsHandler.send(response, HttpResponseStatus.OK, Json.write(root));
    }

    private Mono<Void> metrics(HttpServerResponse response) {
        String text =
                PrometheusText.render(options.modelName(), options.profile(), stats(), counters, scheduler.occupancy());
        return Mono.from(response.status(HttpResponseStatus.OK)
                .header(HttpHeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")
                .sendString(Mono.just(text)));
    }

    /** The faults injected now, in their {@link EngineFaults#parse} form. */
    public EngineFaults faults() {
        return chat.faults();
    }

    /**
     * Changes the SIMULATED faults while running, e.g. {@code down=true} for an outage and
     * {@code down=false} to end it; settings left out keep their values.
     */
    public void setFaults(EngineFaults faults) {
        chat.setFaults(faults);
        LOGGER.info("Engine simulator faults now {}", faults.spec());
    }

    /** SIMULATED faults injected since start or the last {@link #resetStats()}, by kind. */
    public java.util.Map<EngineFaults.Fault, Long> faultsInjected() {
        java.util.Map<EngineFaults.Fault, Long> injected = new java.util.EnumMap<>(EngineFaults.Fault.class);
        for (EngineFaults.Fault fault : EngineFaults.Fault.values()) {
            if (fault != EngineFaults.Fault.NONE) {
                injected.put(fault, counters.faultsInjected(fault));
            }
        }
        return injected;
    }

    /** Requests for a conversation the simulator had already answered in full. */
    public long repeatedCalls() {
        return counters.repeatedCalls.get();
    }

    private Mono<Void> faultsPage(HttpServerResponse response) {
        return Mono.from(response.status(HttpResponseStatus.OK)
                .header(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8")
                .sendString(Mono.just(faults().spec() + "\n")));
    }

    private Mono<Void> changeFaults(String body, HttpServerResponse response) {
        try {
            setFaults(EngineFaults.parse(body.strip(), faults()));
        } catch (IllegalArgumentException e) {
            return ChatCompletionsHandler.send(
                    response,
                    HttpResponseStatus.BAD_REQUEST,
                    OpenAiWire.error(e.getMessage(), "invalid_request_error", "invalid_value", null));
        }
        return faultsPage(response);
    }

    private Mono<Void> flush(HttpServerResponse response, String body) {
        flushCache();
        return Mono.from(response.status(HttpResponseStatus.OK)
                .header(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8")
                .sendString(Mono.just(body)));
    }

    /** Lets the routes, built before the simulator object exists, reach it. */
    private static final class Holder {
        private volatile EngineSimulator simulator;

        EngineSimulator get() {
            EngineSimulator current = simulator;
            if (current == null) {
                throw new IllegalStateException("engine simulator is still starting");
            }
            return current;
        }
    }
}
