package io.batchagent.inference;

import com.netflix.concurrency.limits.Limit;
import com.netflix.concurrency.limits.limit.AIMDLimit;
import com.netflix.concurrency.limits.limit.FixedLimit;
import java.time.Duration;
import java.util.OptionalDouble;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How many model calls the worker keeps in flight: found from the engine's own signals, under the user's
 * ceiling ({@code --max-inflight N}), or fixed at it ({@code --max-inflight fixed:N}).
 *
 * <p>The limit algorithm is Netflix's {@code concurrency-limits} {@link AIMDLimit} (a maintained, tested
 * implementation of additive increase, multiplicative decrease), rather than a hand-written loop. AIMD fits
 * because the engine tells us directly when it is congested, so a loss-style signal is available and the
 * latency-only estimators (Vegas, Gradient) would only guess at it:
 * <ul>
 *   <li>every answered call while the engine is not congested raises the limit by one (when at least half of
 *       it is in use), so an idle engine is filled within a few round trips;
 *   <li>the limit is cut by {@link #BACKOFF} when a fresh reading of the engine's metrics
 *       ({@link EngineSignals}) shows requests queueing past {@link #QUEUE_TOLERANCE} of its running batch
 *       (at least one), or its KV pool at {@link #KV_HIGH} or more: once per reading, however many calls
 *       complete meanwhile. The engine's queue is shared truth, so several workers on one engine all back off
 *       when it fills, and their combined in-flight stays near what it can run;
 *   <li>where the engine publishes no metrics (OpenAI, Anthropic, Bedrock), the limit is cut on throttling:
 *       a call that ends in HTTP 429, 503 or 529 (after the client honoured {@code Retry-After}), or that takes
 *       longer than the engine timeout.
 * </ul>
 * Every change of the limit is logged at debug. {@link #limit()} is read by the consumer loop before each
 * dispatch; the in-flight count at each call's start is kept for the summary ({@link #inFlightSummary()}).
 * Thread-safe.
 */
public final class AdaptiveConcurrency implements EngineClient {

    private static final Logger LOGGER = LoggerFactory.getLogger(AdaptiveConcurrency.class);
    /** Queued requests tolerated, as a share of the engine's running batch, before the limit is cut. */
    static final double QUEUE_TOLERANCE = 0.1;
    /** KV usage at which the limit is cut: new requests would evict the shared prefix or wait. */
    static final double KV_HIGH = 0.95;
    /** The multiplicative decrease. */
    static final double BACKOFF = 0.8;
    /** The least an adaptive limit starts at. */
    static final int INITIAL = 4;
    private static final Set<Integer> THROTTLED = Set.of(429, 503, 529);

    private final EngineClient delegate;
    private final Supplier<EngineMetrics> signals;
    private final Limit limit;
    private final int ceiling;
    private final AtomicInteger inFlight = new AtomicInteger();
    /** Calls started, by the in-flight count they made (index = count, capped at the ceiling). */
    private final AtomicLongArray startsAt;
    private volatile EngineMetrics lastCut;

    private AdaptiveConcurrency(EngineClient delegate, Supplier<EngineMetrics> signals, Limit limit, int ceiling) {
        this.delegate = delegate;
        this.signals = signals;
        this.limit = limit;
        this.ceiling = ceiling;
        this.startsAt = new AtomicLongArray(ceiling + 1);
        limit.notifyOnChange(value -> LOGGER.debug("in-flight limit changed: limit={} inFlight={} ceiling={}",
                value, inFlight.get(), ceiling));
    }

    /**
     * A limit found from the engine's signals, from {@link #initialLimit} up to {@code ceiling}.
     *
     * @param signals the engine's latest reading ({@link EngineSignals#latest()}); a new object per reading
     */
    static AdaptiveConcurrency adaptive(EngineClient delegate, Supplier<EngineMetrics> signals, int ceiling,
                                        Duration engineTimeout) {
        return new AdaptiveConcurrency(delegate, signals, AIMDLimit.newBuilder()
                .initialLimit(initialLimit(ceiling))
                .minLimit(1)
                .maxLimit(ceiling)
                .backoffRatio(BACKOFF)
                .timeout(engineTimeout.toNanos(), TimeUnit.NANOSECONDS)
                .build(), ceiling);
    }

    /**
     * Where an adaptive limit starts: a quarter of the ceiling, at least {@link #INITIAL} (never above the
     * ceiling). Model calls take seconds and AIMD adds one per answered call, so starting at 4 left an idle
     * engine half-used for several round trips at the start of a batch (W2 in {@code bench/run flow}); a quarter
     * of the ceiling fills it in two, and an engine that cannot take that many shows it in its queue at once.
     */
    static int initialLimit(int ceiling) {
        return Math.min(ceiling, Math.max(INITIAL, ceiling / 4));
    }

    /** The limit fixed at {@code ceiling}. */
    static AdaptiveConcurrency fixed(EngineClient delegate, int ceiling) {
        return new AdaptiveConcurrency(delegate, () -> EngineMetrics.NONE, FixedLimit.of(ceiling), ceiling);
    }

    /** The in-flight bound now. */
    int limit() {
        return limit.getLimit();
    }

    /** Model calls in flight now. */
    int inFlight() {
        return inFlight.get();
    }

    /**
     * In-flight at the start of each call so far: the least, the median and the most (all 0 before any call).
     */
    InFlightSummary inFlightSummary() {
        long calls = 0;
        for (int i = 0; i < startsAt.length(); i++) {
            calls += startsAt.get(i);
        }
        int min = -1;
        int median = 0;
        int max = 0;
        long seen = 0;
        for (int i = 0; i < startsAt.length(); i++) {
            long n = startsAt.get(i);
            if (n == 0) {
                continue;
            }
            min = min < 0 ? i : min;
            max = i;
            if (seen < (calls + 1) / 2 && seen + n >= (calls + 1) / 2) {
                median = i;
            }
            seen += n;
        }
        return new InFlightSummary(Math.max(0, min), median, max, calls);
    }

    /** In-flight at call starts: least, median, most, over {@code calls} calls. */
    public record InFlightSummary(int min, int median, int max, long calls) {}

    @Override
    public CompletableFuture<ChatResponse> complete(ChatRequest request) {
        int now = inFlight.incrementAndGet();
        startsAt.incrementAndGet(Math.min(now, ceiling));
        long start = System.nanoTime();
        CompletableFuture<ChatResponse> call;
        try {
            call = delegate.complete(request);
        } catch (RuntimeException e) {
            inFlight.decrementAndGet();
            throw e;
        }
        return call.whenComplete((response, error) -> {
            inFlight.decrementAndGet();
            sample(start, now, response);
        });
    }

    @Override
    public CompletableFuture<EngineCapabilities> capabilities(String model) {
        return delegate.capabilities(model);
    }

    private void sample(long start, int inFlightAtStart, ChatResponse response) {
        EngineMetrics reading = signals.get();
        boolean congested = congested(reading);
        if (congested && reading == lastCut) {
            return; // cut once per reading; neither cut again nor raise until the engine is read again
        }
        boolean drop = congested || throttled(response);
        if (congested) {
            lastCut = reading;
        }
        limit.onSample(start, System.nanoTime() - start, inFlightAtStart, drop);
    }

    /** Whether a reading shows the engine queueing or its KV pool nearly full. */
    static boolean congested(EngineMetrics reading) {
        OptionalDouble queue = reading.queueDepth();
        if (queue.isPresent()) {
            double running = reading.runningRequests().orElse(0);
            if (queue.getAsDouble() > Math.max(1, QUEUE_TOLERANCE * running)) {
                return true;
            }
        }
        OptionalDouble kv = reading.kvUsage();
        return kv.isPresent() && kv.getAsDouble() >= KV_HIGH;
    }

    private static boolean throttled(ChatResponse response) {
        EngineFailure failure = response == null ? null : response.failure();
        return failure != null && failure.httpStatus().isPresent() && THROTTLED.contains(failure.httpStatus().getAsInt());
    }
}
