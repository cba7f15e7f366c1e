package io.batchagent.inference;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An {@link EngineClient} that records every model call in Micrometer, then delegates:
 *
 * <ul>
 *   <li>{@code batchagent_model_calls_in_flight}: calls started and not yet answered;
 *   <li>{@code batchagent_model_calls_limit}: the bound on calls in flight ({@code max_inflight});
 *   <li>{@code batchagent_model_calls_total{outcome}}: answered calls by outcome ({@code ok}, {@code timeout},
 *       {@code http_4xx}, {@code http_5xx}, {@code error});
 *   <li>{@code batchagent_model_call_latency_seconds} and {@code batchagent_model_ttft_seconds}: histograms of
 *       the whole call (retries included) and of the time to the first token (streamed answers only);
 *   <li>{@code batchagent_model_prompt_tokens_total}, {@code batchagent_model_cached_tokens_total},
 *       {@code batchagent_model_completion_tokens_total}: tokens as the engine reported them; cached over
 *       prompt tokens is the shared-prefix hit rate.
 * </ul>
 *
 * <p>Warm-up calls go through the same client and are counted like any other call. Thread-safe; closing it
 * closes the delegate.
 */
public final class MeteredEngineClient implements CloseableEngineClient {

    private static final Duration MIN_EXPECTED = Duration.ofMillis(5);
    private static final Duration MAX_EXPECTED = Duration.ofMinutes(10);

    private final CloseableEngineClient delegate;
    private final MeterRegistry registry;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final Timer latency;
    private final Timer timeToFirstToken;
    private final Counter promptTokens;
    private final Counter cachedTokens;
    private final Counter completionTokens;

    /**
     * @param limit the most calls the caller keeps in flight, published as {@code batchagent_model_calls_limit}
     */
    public MeteredEngineClient(CloseableEngineClient delegate, MeterRegistry registry, int limit) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
        this.registry = Objects.requireNonNull(registry, "registry");
        Gauge.builder("batchagent.model.calls.in.flight", inFlight, AtomicInteger::get)
                .description("Model calls started and not yet answered")
                .register(registry);
        Gauge.builder("batchagent.model.calls.limit", () -> limit)
                .description("The most model calls this worker keeps in flight (max_inflight)")
                .register(registry);
        this.latency = Timer.builder("batchagent.model.call.latency")
                .description("Model call time, retries included")
                .publishPercentileHistogram()
                .minimumExpectedValue(MIN_EXPECTED)
                .maximumExpectedValue(MAX_EXPECTED)
                .register(registry);
        this.timeToFirstToken = Timer.builder("batchagent.model.ttft")
                .description("Time to the first token of a streamed answer")
                .publishPercentileHistogram()
                .minimumExpectedValue(MIN_EXPECTED)
                .maximumExpectedValue(MAX_EXPECTED)
                .register(registry);
        this.promptTokens = Counter.builder("batchagent.model.prompt.tokens")
                .description("Prompt tokens of answered model calls, cached or not")
                .register(registry);
        this.cachedTokens = Counter.builder("batchagent.model.cached.tokens")
                .description("Prompt tokens the engine served from its prefix cache")
                .register(registry);
        this.completionTokens = Counter.builder("batchagent.model.completion.tokens")
                .description("Tokens the engine generated")
                .register(registry);
    }

    @Override
    public CompletableFuture<ChatResponse> complete(ChatRequest request) {
        inFlight.incrementAndGet();
        CompletableFuture<ChatResponse> call;
        try {
            call = delegate.complete(request);
        } catch (RuntimeException e) {
            inFlight.decrementAndGet();
            throw e;
        }
        return call.whenComplete((response, error) -> {
            inFlight.decrementAndGet();
            if (response != null) {
                record(response);
            }
        });
    }

    private void record(ChatResponse response) {
        Counter.builder("batchagent.model.calls")
                .description("Answered model calls by outcome")
                .tag("outcome", outcome(response.failure()))
                .register(registry)
                .increment();
        latency.record(response.latencyMs(), TimeUnit.MILLISECONDS);
        response.timeToFirstTokenMs().ifPresent(ms -> timeToFirstToken.record(ms, TimeUnit.MILLISECONDS));
        TokenUsage usage = response.usage();
        promptTokens.increment(usage.promptTokens());
        cachedTokens.increment(usage.cachedPromptTokens());
        completionTokens.increment(usage.completionTokens());
    }

    private static String outcome(EngineFailure failure) {
        if (failure == null) {
            return "ok";
        }
        if (failure.isTimeout()) {
            return "timeout";
        }
        if (failure.httpStatus().isPresent()) {
            return failure.httpStatus().getAsInt() >= 500 ? "http_5xx" : "http_4xx";
        }
        return "error";
    }

    @Override
    public CompletableFuture<EngineCapabilities> capabilities(String model) {
        return delegate.capabilities(model);
    }

    @Override
    public void close() {
        delegate.close();
    }
}
