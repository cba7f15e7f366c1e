package io.batchagent.simulator;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import org.reactivestreams.Publisher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.netty.http.server.HttpServerRequest;
import reactor.netty.http.server.HttpServerResponse;

/**
 * {@code POST /v1/chat/completions}: parses the request, asks the scripted model for its output,
 * renders and tokenizes the prompt, queues both with the scheduler and answers in the OpenAI
 * format, streamed or not, as the scheduler emits tokens. Thread-safe.
 */
final class ChatCompletionsHandler {

    private static final Logger LOGGER = LoggerFactory.getLogger(ChatCompletionsHandler.class);
    private static final String JSON_TYPE = "application/json";
    /** A simulated server error is one of these in turn: an engine's own, then a proxy's in front of it. */
    private static final HttpResponseStatus[] SERVER_ERRORS = {
        HttpResponseStatus.INTERNAL_SERVER_ERROR, HttpResponseStatus.BAD_GATEWAY, HttpResponseStatus.SERVICE_UNAVAILABLE
    };

    private final SimulatorOptions options;
    private final BatchScheduler scheduler;
    private final EngineCounters counters;
    private final List<String> captured;
    private final ScriptedModel model;
    private final ChatTemplate template = new ChatTemplate();
    private final AtomicLong responseIds = new AtomicLong();
    private final Object faultLock = new Object();
    /** Conversations answered in full, to count repeated model calls; bounded, see {@link #remember}. */
    private final java.util.Set<String> answered = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private EngineFaults faults;
    private java.util.SplittableRandom faultDraws;

    ChatCompletionsHandler(
            SimulatorOptions options, BatchScheduler scheduler, EngineCounters counters, List<String> captured) {
        this.options = options;
        this.scheduler = scheduler;
        this.counters = counters;
        this.captured = captured;
        this.model = new ScriptedModel(
                options.toolCallRule(), options.invalidAnswers(), options.varyAnswersSeed(), options.toolTurns());
        setFaults(options.faults());
    }

    /** Replaces the injected faults (and restarts their draws from the new seed). */
    void setFaults(EngineFaults next) {
        synchronized (faultLock) {
            faults = next;
            faultDraws = new java.util.SplittableRandom(next.seed());
        }
    }

    EngineFaults faults() {
        synchronized (faultLock) {
            return faults;
        }
    }

    private EngineFaults.Fault drawFault() {
        synchronized (faultLock) {
            return faults.any() ? faults.fault(faultDraws.nextDouble()) : EngineFaults.Fault.NONE;
        }
    }

    Publisher<Void> handle(HttpServerRequest request, HttpServerResponse response) {
        return Mono.defer(() -> {
            counters.requestStarted();
            return request.receive()
                    .aggregate()
                    .asString(StandardCharsets.UTF_8)
                    .defaultIfEmpty("")
                    .flatMap(body -> answer(body, response))
                    .doFinally(signal -> counters.requestEnded());
        });
    }

    private Mono<Void> answer(String body, HttpServerResponse response) {
        if (options.captureRequests()) {
            captured.add(body);
        }
        ChatRequest request;
        try {
            request = ChatRequest.parse(body);
        } catch (InvalidRequestException e) {
            return clientError(response, e.getMessage(), e.code(), e.param());
        }
        String dialectProblem = dialectProblem(request);
        if (dialectProblem != null) {
            return clientError(response, dialectProblem, "invalid_value", null);
        }
        if (options.failOnMarker() != null && request.lastUserMessage().contains(options.failOnMarker())) {
            counters.serverErrors.incrementAndGet();
            return send(
                    response,
                    HttpResponseStatus.INTERNAL_SERVER_ERROR,
                    OpenAiWire.error(
                            "simulated failure: the last user message contains the failure marker",
                            "server_error",
                            "simulated_failure",
                            null));
        }
        EngineFaults.Fault fault = drawFault();
        if (fault != EngineFaults.Fault.NONE) {
            counters.faultInjected(fault);
        }
        switch (fault) {
            case OUTAGE -> {
                return send(
                        response,
                        HttpResponseStatus.SERVICE_UNAVAILABLE,
                        OpenAiWire.error("simulated outage: the engine is down", "server_error", "unavailable", null));
            }
            case SERVER_ERROR -> {
                HttpResponseStatus status = SERVER_ERRORS[(int) (responseIds.incrementAndGet() % SERVER_ERRORS.length)];
                return send(
                        response,
                        status,
                        OpenAiWire.error(
                                "simulated server error " + status.code(), "server_error", "simulated_failure", null));
            }
            case THROTTLE -> {
                return Mono.from(response.status(HttpResponseStatus.TOO_MANY_REQUESTS)
                        .header(HttpHeaderNames.CONTENT_TYPE, JSON_TYPE)
                        .header(HttpHeaderNames.RETRY_AFTER, Integer.toString(faults().retryAfterSeconds()))
                        .sendString(Mono.just(OpenAiWire.error(
                                "simulated rate limit: slow down", "rate_limit_error", "rate_limit_exceeded", null))));
            }
            case MALFORMED -> {
                return request.stream()
                        ? Mono.from(
                                response.status(HttpResponseStatus.OK)
                                        .header(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8")
                                        .sendString(
                                                Mono.just(
                                                        "data: {\"id\": \"chatcmpl-broken\", \"choices\": [{\"delta\": {\"content\n\n")))
                        : send(response, HttpResponseStatus.OK, "{\"id\": \"chatcmpl-broken\", \"choices\": [");
            }
            case HANG -> {
                long millis = faults().hangMillis();
                return Mono.delay(java.time.Duration.ofMillis(millis)).then(Mono.defer(() -> serve(request, response)));
            }
            default -> {
                return serve(request, response);
            }
        }
    }

    private Mono<Void> serve(ChatRequest request, HttpServerResponse response) {
        String conversation = conversationKey(request);
        if (answered.contains(conversation)) {
            counters.repeatedCalls.incrementAndGet();
        }
        Completion completion;
        int[] prompt;
        try {
            completion = Completion.plan(model.respond(request), request.maxTokens());
            prompt = template.promptTokens(request);
            if (LOGGER.isTraceEnabled()) {
                LOGGER.trace("Rendered prompt promptTokens={} prompt={}", prompt.length, template.render(request));
            }
        } catch (RuntimeException e) {
            LOGGER.warn("Scripted model failed on a request", e);
            counters.serverErrors.incrementAndGet();
            return send(
                    response,
                    HttpResponseStatus.INTERNAL_SERVER_ERROR,
                    OpenAiWire.error("scripted model failed: " + e, "server_error", "internal_error", null));
        }
        String overContext = contextProblem(prompt.length);
        if (overContext != null) {
            counters.clientErrors.incrementAndGet();
            return send(
                    response,
                    HttpResponseStatus.BAD_REQUEST,
                    options.dialect() == SimulatorDialect.VLLM
                            ? OpenAiWire.vllmError(overContext)
                            : OpenAiWire.sglangError(overContext));
        }
        OpenAiWire wire = new OpenAiWire(
                String.format("chatcmpl-sim%020x", responseIds.incrementAndGet()),
                System.currentTimeMillis() / 1000,
                request.model() != null ? request.model() : options.modelName(),
                request.includeUsage(),
                options.cacheReport());
        Runnable onAnswered = () -> remember(conversation);
        return request.stream()
                ? stream(request, completion, prompt, wire, response, onAnswered)
                : complete(request, completion, prompt, wire, response, onAnswered);
    }

    private static final int MAX_REMEMBERED = 500_000;

    private void remember(String conversation) {
        if (answered.size() < MAX_REMEMBERED) {
            answered.add(conversation);
        }
    }

    /**
     * The request's messages, hashed: two requests with the same key ask for the same model call
     * (the same turn of the same agent).
     */
    static String conversationKey(ChatRequest request) {
        try {
            java.security.MessageDigest digest = java.security.MessageDigest.getInstance("SHA-256");
            for (ChatMessage message : request.messages()) {
                update(digest, message.role());
                update(digest, message.content());
                update(digest, message.toolCallId() == null ? "" : message.toolCallId());
                for (ChatMessage.ToolCallMessage call : message.toolCalls()) {
                    update(digest, call.id());
                    update(digest, call.name());
                    update(digest, call.arguments());
                }
            }
            return java.util.HexFormat.of().formatHex(digest.digest(), 0, 16);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JVM", e);
        }
    }

    private static void update(java.security.MessageDigest digest, String text) {
        digest.update(text.getBytes(StandardCharsets.UTF_8));
        digest.update((byte) 0);
    }

    /**
     * The imitated engine's own message when a prompt is over the context window ({@code contextTokens}),
     * or null: SGLang refuses an input of at least the context length (TokenizerManager._validate_one_request),
     * vLLM one longer than its max_model_len (its renderer's input validation), both with HTTP 400.
     */
    private String contextProblem(int promptTokens) {
        int window = options.contextTokens();
        if (window <= 0) {
            return null;
        }
        if (options.dialect() == SimulatorDialect.VLLM) {
            return promptTokens <= window
                    ? null
                    : "This model's maximum context length is " + window + " tokens. "
                            + "However, your request has " + promptTokens
                            + " input tokens. Please reduce the length of the "
                            + "input messages.";
        }
        return promptTokens < window
                ? null
                : "The input (" + promptTokens + " tokens) is longer than the model's " + "context length (" + window
                        + " tokens).";
    }

    /** Why the imitated engine would refuse this request, or null. */
    private String dialectProblem(ChatRequest request) {
        if (options.dialect() != SimulatorDialect.VLLM) {
            return null;
        }
        if (request.hasStreamOptions() && !request.stream()) {
            return "Stream options can only be defined when `stream=True`.";
        }
        if (request.priority() != 0 && !options.priorityScheduling()) {
            return "Got priority " + request.priority() + " but Priority scheduling is not enabled.";
        }
        return null;
    }

    /** The scheduler runs higher values first: SGLang's polarity as sent, vLLM's negated, none when off. */
    private int schedulingPriority(ChatRequest request) {
        if (!options.priorityScheduling()) {
            return 0;
        }
        return options.dialect() == SimulatorDialect.VLLM ? -request.priority() : request.priority();
    }

    private Mono<Void> complete(
            ChatRequest request,
            Completion completion,
            int[] prompt,
            OpenAiWire wire,
            HttpServerResponse response,
            Runnable onAnswered) {
        CompletableFuture<String> body = new CompletableFuture<>();
        BatchScheduler.Sequence sequence;
        try {
            sequence = scheduler.submit(
                    prompt, completion.tokenIds(), schedulingPriority(request), new BatchScheduler.Listener() {
                        @Override
                        public void onToken(BatchScheduler.Sequence s, int index) {
                            // the whole message is sent at the end
                        }

                        @Override
                        public void onFinish(BatchScheduler.Sequence s) {
                            onAnswered.run();
                            body.complete(wire.completion(completion, s.promptTokens(), s.cachedTokens()));
                        }

                        @Override
                        public void onAbort(BatchScheduler.Sequence s) {
                            body.completeExceptionally(new IllegalStateException("engine simulator closed"));
                        }
                    });
        } catch (IllegalArgumentException | IllegalStateException e) {
            return rejected(response, e);
        }
        response.status(HttpResponseStatus.OK).header(HttpHeaderNames.CONTENT_TYPE, JSON_TYPE);
        return Mono.fromFuture(body)
                .doOnCancel(() -> scheduler.cancel(sequence))
                .flatMap(json -> Mono.from(response.sendString(Mono.just(json))))
                .onErrorResume(
                        IllegalStateException.class,
                        e -> Mono.from(response.status(503)
                                .sendString(Mono.just(
                                        OpenAiWire.error(e.getMessage(), "server_error", "unavailable", null)))));
    }

    private Mono<Void> stream(
            ChatRequest request,
            Completion completion,
            int[] prompt,
            OpenAiWire wire,
            HttpServerResponse response,
            Runnable onAnswered) {
        Sinks.Many<String> events = Sinks.many().unicast().onBackpressureBuffer();
        BatchScheduler.Sequence sequence;
        try {
            sequence = scheduler.submit(
                    prompt,
                    completion.tokenIds(),
                    schedulingPriority(request),
                    new StreamingListener(completion, wire, request.includeUsage(), events, onAnswered));
        } catch (IllegalArgumentException | IllegalStateException e) {
            return rejected(response, e);
        }
        Flux<ByteBuf> frames = events.asFlux()
                .doOnCancel(() -> scheduler.cancel(sequence))
                .map(frame ->
                        response.alloc().buffer(frame.length() + 8).writeBytes(frame.getBytes(StandardCharsets.UTF_8)));
        return Mono.from(response.status(HttpResponseStatus.OK)
                .header(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8")
                .header(HttpHeaderNames.CACHE_CONTROL, "no-cache")
                // Flush once the frames waiting are written (reactor-netty's flush on burst): a token that comes
                // alone is flushed at once, so clients still time their first token from its arrival, and the
                // tokens of a step that come together (the instant profile's whole answer) leave in one write.
                .send(frames));
    }

    private Mono<Void> rejected(HttpServerResponse response, RuntimeException e) {
        if (e instanceof IllegalArgumentException) {
            return clientError(response, e.getMessage(), "context_length_exceeded", "messages");
        }
        counters.serverErrors.incrementAndGet();
        return send(
                response,
                HttpResponseStatus.SERVICE_UNAVAILABLE,
                OpenAiWire.error(e.getMessage(), "server_error", "unavailable", null));
    }

    private Mono<Void> clientError(HttpServerResponse response, String message, String code, String param) {
        counters.clientErrors.incrementAndGet();
        return send(
                response,
                HttpResponseStatus.BAD_REQUEST,
                OpenAiWire.error(message, "invalid_request_error", code, param));
    }

    static Mono<Void> send(HttpServerResponse response, HttpResponseStatus status, String json) {
        return Mono.from(response.status(status)
                .header(HttpHeaderNames.CONTENT_TYPE, JSON_TYPE)
                .sendString(Mono.just(json)));
    }

    /** Turns scheduler events into SSE frames; called on the scheduler thread only. */
    private static final class StreamingListener implements BatchScheduler.Listener {
        private final Completion completion;
        private final OpenAiWire wire;
        private final boolean includeUsage;
        private final Sinks.Many<String> events;
        private final Runnable onAnswered;

        StreamingListener(
                Completion completion,
                OpenAiWire wire,
                boolean includeUsage,
                Sinks.Many<String> events,
                Runnable onAnswered) {
            this.completion = completion;
            this.wire = wire;
            this.includeUsage = includeUsage;
            this.events = events;
            this.onAnswered = onAnswered;
        }

        @Override
        public void onToken(BatchScheduler.Sequence sequence, int index) {
            if (index == 0) {
                emit(wire.roleChunk());
            }
            if (!completion.isToolCall()) {
                emit(wire.contentChunk(completion.piece(index)));
            } else if (index == 0) {
                emit(wire.toolCallStartChunk(completion, completion.argumentFragment(0)));
            } else if (!completion.argumentFragment(index).isEmpty()) {
                emit(wire.toolCallArgumentsChunk(completion.argumentFragment(index)));
            }
        }

        @Override
        public void onFinish(BatchScheduler.Sequence sequence) {
            onAnswered.run();
            emit(wire.finishChunk(completion.finishReason()));
            if (includeUsage) {
                emit(wire.usageChunk(sequence.promptTokens(), completion.tokenCount(), sequence.cachedTokens()));
            }
            events.tryEmitNext("data: [DONE]\n\n");
            events.tryEmitComplete();
        }

        @Override
        public void onAbort(BatchScheduler.Sequence sequence) {
            events.tryEmitError(new IllegalStateException("engine simulator closed"));
        }

        private void emit(String json) {
            events.tryEmitNext("data: " + json + "\n\n");
        }
    }
}
