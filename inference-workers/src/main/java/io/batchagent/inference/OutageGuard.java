package io.batchagent.inference;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.core.IntervalFunction;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An {@link EngineClient} that rides out engine outages instead of failing the calls that meet one.
 *
 * <p>A resilience4j {@link CircuitBreaker} (a well-kept state machine with backoff between probes, not a
 * hand-written one) tracks whether the engine answers. A call's failure is an <em>engine</em> failure when it
 * could be anyone's: no answer (refused, reset, timed out, broken stream) or HTTP 5xx, 408 or 429, after the
 * client's own bounded retries. A per-request rejection (400 for a bad body, context too long, 401...) is
 * returned at once: it says the engine is up.
 *
 * <ul>
 *   <li>The breaker opens when most recent calls failed (at least half of the last 20, once 10 were seen),
 *       or when a call's engine failure is confirmed by a probe: one small call (the batch's warm-up, one
 *       output token) that fails too. A probe that succeeds proves the failure was the request's own: the call
 *       is returned failed at once (ENGINE_ERROR), as before this guard existed.
 *   <li>While it is open, no call is sent: calls that met the outage and calls started since wait, holding
 *       no thread, and {@link #admitting()} is false, so the worker pauses its partitions. The engine is
 *       probed after {@link FlowControl#firstProbeDelay()}, then at doubling intervals up to
 *       {@link FlowControl#maxProbeDelay()}. When a probe succeeds the breaker closes and every waiting call is
 *       sent again, once: a call is repeated only because its previous attempt failed.
 *   <li>A waiting call gives up when the outage has lasted {@link FlowControl#outageBudget()}: its
 *       failure says ENGINE_UNAVAILABLE ({@link EngineFailure#isUnavailable()}) with the last failure's
 *       message. From then on until the engine answers again, {@link #admitting()} is true and new calls fail
 *       the same way at once, so a batch ends instead of hanging.
 * </ul>
 *
 * <p>{@link #pausedMillis()} is the time spent in outages. Thread-safe. The delegate is not owned;
 * {@link #close()} stops the probe timers, and calls still waiting then end ENGINE_UNAVAILABLE.
 */
final class OutageGuard implements EngineClient, AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(OutageGuard.class);
    private static final String PROBE_JOB = "engine-probe";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final EngineClient delegate;
    private final FlowControl settings;
    private final CircuitBreaker breaker;
    private final LongSupplier nanos;
    private final ScheduledExecutorService timers;
    private final AtomicReference<ChatRequest> probeTemplate = new AtomicReference<>();
    private final AtomicReference<CompletableFuture<Boolean>> confirming = new AtomicReference<>();
    /** The latest engine failure seen (a call's or a probe's), for the message of calls that never got to send. */
    private final AtomicReference<EngineFailure> lastFailure = new AtomicReference<>();
    /** Completed when the breaker closes; replaced when it opens. */
    private volatile CompletableFuture<Void> recovered = CompletableFuture.completedFuture(null);
    /** {@link System#nanoTime()} when the current outage began; meaningful only while {@link #inOutage}. */
    private volatile long outageStart;

    private volatile boolean inOutage;
    private final AtomicLong pausedNanos = new AtomicLong();
    private final IntervalFunction probeBackoff;
    /** Probes failed in the current outage. */
    private final AtomicInteger failedProbes = new AtomicInteger();

    OutageGuard(EngineClient delegate, FlowControl settings) {
        this(delegate, settings, System::nanoTime);
    }

    OutageGuard(EngineClient delegate, FlowControl settings, LongSupplier nanos) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
        this.settings = settings;
        this.nanos = nanos;
        this.timers = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, "batchagent-engine-outage");
            thread.setDaemon(true);
            return thread;
        });
        this.breaker = CircuitBreaker.of(
                "batchagent-engine",
                CircuitBreakerConfig.custom()
                        .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                        .slidingWindowSize(20)
                        .minimumNumberOfCalls(10)
                        .failureRateThreshold(50)
                        .permittedNumberOfCallsInHalfOpenState(1)
                        // The guard moves an open breaker to half-open itself, on its own probe schedule.
                        .waitDurationInOpenState(settings.outageBudget())
                        .build());
        this.probeBackoff =
                IntervalFunction.ofExponentialBackoff(settings.firstProbeDelay(), 2.0, settings.maxProbeDelay());
        breaker.getEventPublisher().onStateTransition(event -> onTransition(event.getStateTransition()));
    }

    @Override
    public CompletableFuture<ChatResponse> complete(ChatRequest request) {
        // The probe follows the latest batch; a raw request's ping stands in until one has a prompt.
        if (request.prompt() != null || probeTemplate.get() == null) {
            probeTemplate.set(probeOf(request));
        }
        return send(request, nanos.getAsLong(), null);
    }

    @Override
    public CompletableFuture<EngineCapabilities> capabilities(String model) {
        return delegate.capabilities(model);
    }

    /**
     * Whether the worker should start new calls: the engine answers, or the outage has outlasted its
     * budget (new calls then fail at once). False while an outage is being ridden out.
     */
    boolean admitting() {
        return !inOutage
                || nanos.getAsLong() - outageStart >= settings.outageBudget().toNanos();
    }

    /** Time spent in outages so far, the current one included. */
    long pausedMillis() {
        long now = inOutage ? Math.max(0, nanos.getAsLong() - outageStart) : 0;
        return TimeUnit.NANOSECONDS.toMillis(pausedNanos.get() + now);
    }

    /** The breaker's state, for logs and tests. */
    CircuitBreaker.State state() {
        return breaker.getState();
    }

    /** Sends {@code request} unless an outage is on; {@code last} is the failure of its previous attempt, or null. */
    private CompletableFuture<ChatResponse> send(ChatRequest request, long startNanos, EngineFailure last) {
        CompletableFuture<Void> recovery = recovered;
        if (breaker.getState() != CircuitBreaker.State.CLOSED || !breaker.tryAcquirePermission()) {
            return waitOut(request, startNanos, last, recovery);
        }
        long sent = nanos.getAsLong();
        CompletableFuture<ChatResponse> call;
        try {
            call = delegate.complete(request);
        } catch (RuntimeException e) {
            breaker.releasePermission();
            throw e;
        }
        return call.thenCompose(response -> {
            long took = nanos.getAsLong() - sent;
            if (!isEngineFailure(response.failure())) {
                breaker.onSuccess(took, TimeUnit.NANOSECONDS);
                return CompletableFuture.completedFuture(last == null ? response : withLatency(response, startNanos));
            }
            lastFailure.set(response.failure());
            breaker.onError(took, TimeUnit.NANOSECONDS, new EngineDown(response.failure()));
            if (breaker.getState() != CircuitBreaker.State.CLOSED) {
                return waitOut(request, startNanos, response.failure(), recovered);
            }
            return confirmOutage()
                    .thenCompose(down -> down
                            ? waitOut(request, startNanos, response.failure(), recovered)
                            : CompletableFuture.completedFuture(response));
        });
    }

    /**
     * Waits, without a thread, until the breaker closes or the outage budget runs out, then sends the
     * request again (or fails it ENGINE_UNAVAILABLE).
     */
    private CompletableFuture<ChatResponse> waitOut(
            ChatRequest request, long startNanos, EngineFailure last, CompletableFuture<Void> recovery) {
        if (!inOutage) {
            // The breaker closed between the failure and now: try at once.
            return send(request, startNanos, last);
        }
        long left = outageStart + settings.outageBudget().toNanos() - nanos.getAsLong();
        if (left <= 0 || timers.isShutdown()) {
            LOGGER.warn(
                    "engine unavailable past the outage budget; failing the call: jobId={} turn={} model={} budget={}",
                    request.jobId(),
                    request.turn(),
                    request.model(),
                    settings.outageBudget());
            return CompletableFuture.completedFuture(ChatResponse.failed(
                    EngineFailure.unavailable(settings.outageBudget(), last != null ? last : lastFailure.get()),
                    elapsedMs(startNanos)));
        }
        CompletableFuture<Void> budgetOver = new CompletableFuture<>();
        timers.schedule(() -> budgetOver.complete(null), left, TimeUnit.NANOSECONDS);
        return recovery.applyToEither(budgetOver, ignored -> ignored)
                .thenCompose(ignored -> send(request, startNanos, last));
    }

    /**
     * One probe shared by every call that failed while the breaker was closed: true (and the breaker
     * forced open) when the engine fails the probe too.
     */
    private CompletableFuture<Boolean> confirmOutage() {
        CompletableFuture<Boolean> mine = new CompletableFuture<>();
        CompletableFuture<Boolean> current = confirming.compareAndExchange(null, mine);
        if (current != null) {
            return current;
        }
        delegate.complete(probeTemplate.get()).whenComplete((response, error) -> {
            boolean down = error != null || isEngineFailure(response.failure());
            if (down && breaker.getState() == CircuitBreaker.State.CLOSED) {
                LOGGER.warn(
                        "engine failed a probe after a failed call; opening the circuit: detail={}",
                        error != null
                                ? EngineRetry.describe(error)
                                : response.failure().message());
                breaker.transitionToOpenState();
            }
            confirming.set(null);
            mine.complete(down);
        });
        return mine;
    }

    /** Probes a half-open breaker with one small call: success closes it, failure reopens it with a longer wait. */
    private void probe() {
        if (!breaker.tryAcquirePermission()) {
            return;
        }
        long sent = nanos.getAsLong();
        delegate.complete(probeTemplate.get()).whenComplete((response, error) -> {
            long took = nanos.getAsLong() - sent;
            if (error == null && !isEngineFailure(response.failure())) {
                breaker.onSuccess(took, TimeUnit.NANOSECONDS);
            } else {
                if (error == null) {
                    lastFailure.set(response.failure());
                }
                LOGGER.info(
                        "engine still unavailable: detail={}",
                        error != null
                                ? EngineRetry.describe(error)
                                : response.failure().message());
                breaker.onError(took, TimeUnit.NANOSECONDS, error != null ? error : new EngineDown(response.failure()));
            }
        });
    }

    private void onTransition(CircuitBreaker.StateTransition transition) {
        switch (transition.getToState()) {
            case OPEN -> {
                if (!inOutage) {
                    outageStart = nanos.getAsLong();
                    recovered = new CompletableFuture<>();
                    inOutage = true;
                    LOGGER.warn(
                            "engine unavailable: new turns wait, calls in flight are sent again when it answers; "
                                    + "outageBudget={}",
                            settings.outageBudget());
                }
                int attempt = transition.getFromState() == CircuitBreaker.State.HALF_OPEN
                        ? failedProbes.incrementAndGet() + 1
                        : 1;
                scheduleProbe(probeBackoff.apply(attempt));
            }
            case HALF_OPEN -> timers.execute(this::probe);
            case CLOSED -> {
                if (inOutage) {
                    long lasted = nanos.getAsLong() - outageStart;
                    pausedNanos.addAndGet(lasted);
                    inOutage = false;
                    failedProbes.set(0);
                    LOGGER.info(
                            "engine answers again after {} ms; waiting calls are sent again",
                            TimeUnit.NANOSECONDS.toMillis(lasted));
                    recovered.complete(null);
                }
            }
            default -> {}
        }
    }

    private void scheduleProbe(long waitMillis) {
        if (timers.isShutdown()) {
            return;
        }
        timers.schedule(
                () -> {
                    if (breaker.getState() == CircuitBreaker.State.OPEN) {
                        breaker.transitionToHalfOpenState();
                    }
                },
                waitMillis,
                TimeUnit.MILLISECONDS);
    }

    /**
     * Whether {@code failure} could be anyone's rather than the request's own: no HTTP answer (refused,
     * reset, timed out, broken stream) or HTTP 5xx, 408, 429.
     */
    static boolean isEngineFailure(EngineFailure failure) {
        if (failure == null) {
            return false;
        }
        if (failure.httpStatus().isEmpty()) {
            return true;
        }
        int status = failure.httpStatus().getAsInt();
        return status >= 500 || status == 408 || status == 429;
    }

    /** The small call that asks whether the engine answers: the batch's warm-up, or a one-token ping. */
    private static ChatRequest probeOf(ChatRequest request) {
        if (request.prompt() != null) {
            return ChatRequest.of(
                    PROBE_JOB, 0, AgentPrompt.warmUp(request.prompt().batch()));
        }
        ObjectNode body = JSON.createObjectNode()
                .put("model", request.model())
                .put("max_tokens", 1)
                .put("stream", false);
        body.putArray("messages").addObject().put("role", "user").put("content", "ping");
        return new ChatRequest(PROBE_JOB, 0, request.model(), body.toString().getBytes(StandardCharsets.UTF_8));
    }

    private ChatResponse withLatency(ChatResponse response, long startNanos) {
        return new ChatResponse(
                response.content(),
                response.toolCalls(),
                response.finishReason(),
                response.usage(),
                response.timeToFirstTokenMs(),
                elapsedMs(startNanos),
                response.failure());
    }

    private long elapsedMs(long startNanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos.getAsLong() - startNanos);
    }

    @Override
    public void close() {
        timers.shutdownNow();
        recovered.complete(null);
    }

    /** An engine failure, as the breaker records it. */
    private static final class EngineDown extends RuntimeException {
        private static final long serialVersionUID = 1L;

        EngineDown(EngineFailure failure) {
            super(failure.message(), null, false, false);
        }
    }
}
