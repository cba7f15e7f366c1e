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

    private final SimulatorOptions options;
    private final BatchScheduler scheduler;
    private final EngineCounters counters;
    private final List<String> captured;
    private final ScriptedModel model;
    private final ChatTemplate template = new ChatTemplate();
    private final AtomicLong responseIds = new AtomicLong();

    ChatCompletionsHandler(SimulatorOptions options, BatchScheduler scheduler, EngineCounters counters,
            List<String> captured) {
        this.options = options;
        this.scheduler = scheduler;
        this.counters = counters;
        this.captured = captured;
        this.model = new ScriptedModel(options.toolCallRule(), options.invalidAnswers());
    }

    Publisher<Void> handle(HttpServerRequest request, HttpServerResponse response) {
        return Mono.defer(() -> {
            counters.requestStarted();
            return request.receive().aggregate().asString(StandardCharsets.UTF_8).defaultIfEmpty("")
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
            return send(response, HttpResponseStatus.INTERNAL_SERVER_ERROR, OpenAiWire.error(
                    "simulated failure: the last user message contains the failure marker", "server_error",
                    "simulated_failure", null));
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
            return send(response, HttpResponseStatus.INTERNAL_SERVER_ERROR,
                    OpenAiWire.error("scripted model failed: " + e, "server_error", "internal_error", null));
        }
        OpenAiWire wire = new OpenAiWire(String.format("chatcmpl-sim%020x", responseIds.incrementAndGet()),
                System.currentTimeMillis() / 1000, request.model() != null ? request.model() : options.modelName(),
                request.includeUsage(), options.cacheReport());
        return request.stream()
                ? stream(request, completion, prompt, wire, response)
                : complete(request, completion, prompt, wire, response);
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

    private Mono<Void> complete(ChatRequest request, Completion completion, int[] prompt, OpenAiWire wire,
            HttpServerResponse response) {
        CompletableFuture<String> body = new CompletableFuture<>();
        BatchScheduler.Sequence sequence;
        try {
            sequence = scheduler.submit(prompt, completion.tokenIds(), schedulingPriority(request), new BatchScheduler.Listener() {
                @Override
                public void onToken(BatchScheduler.Sequence s, int index) {
                    // the whole message is sent at the end
                }

                @Override
                public void onFinish(BatchScheduler.Sequence s) {
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
                .onErrorResume(IllegalStateException.class, e -> Mono.from(response.status(503)
                        .sendString(Mono.just(OpenAiWire.error(e.getMessage(), "server_error", "unavailable", null)))));
    }

    private Mono<Void> stream(ChatRequest request, Completion completion, int[] prompt, OpenAiWire wire,
            HttpServerResponse response) {
        Sinks.Many<String> events = Sinks.many().unicast().onBackpressureBuffer();
        BatchScheduler.Sequence sequence;
        try {
            sequence = scheduler.submit(prompt, completion.tokenIds(), schedulingPriority(request),
                    new StreamingListener(completion, wire, request.includeUsage(), events));
        } catch (IllegalArgumentException | IllegalStateException e) {
            return rejected(response, e);
        }
        Flux<ByteBuf> frames = events.asFlux()
                .doOnCancel(() -> scheduler.cancel(sequence))
                .map(frame -> response.alloc().buffer(frame.length() + 8).writeBytes(frame.getBytes(StandardCharsets.UTF_8)));
        return Mono.from(response.status(HttpResponseStatus.OK)
                .header(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8")
                .header(HttpHeaderNames.CACHE_CONTROL, "no-cache")
                // Flush every frame: clients time their first token from its arrival.
                .send(frames, frame -> true));
    }

    private Mono<Void> rejected(HttpServerResponse response, RuntimeException e) {
        if (e instanceof IllegalArgumentException) {
            return clientError(response, e.getMessage(), "context_length_exceeded", "messages");
        }
        counters.serverErrors.incrementAndGet();
        return send(response, HttpResponseStatus.SERVICE_UNAVAILABLE,
                OpenAiWire.error(e.getMessage(), "server_error", "unavailable", null));
    }

    private Mono<Void> clientError(HttpServerResponse response, String message, String code, String param) {
        counters.clientErrors.incrementAndGet();
        return send(response, HttpResponseStatus.BAD_REQUEST,
                OpenAiWire.error(message, "invalid_request_error", code, param));
    }

    static Mono<Void> send(HttpServerResponse response, HttpResponseStatus status, String json) {
        return Mono.from(response.status(status).header(HttpHeaderNames.CONTENT_TYPE, JSON_TYPE)
                .sendString(Mono.just(json)));
    }

    /** Turns scheduler events into SSE frames; called on the scheduler thread only. */
    private static final class StreamingListener implements BatchScheduler.Listener {
        private final Completion completion;
        private final OpenAiWire wire;
        private final boolean includeUsage;
        private final Sinks.Many<String> events;

        StreamingListener(Completion completion, OpenAiWire wire, boolean includeUsage, Sinks.Many<String> events) {
            this.completion = completion;
            this.wire = wire;
            this.includeUsage = includeUsage;
            this.events = events;
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
