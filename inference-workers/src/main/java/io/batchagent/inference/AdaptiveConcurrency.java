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
 * <p>The limit is held and changed by Netflix's {@code concurrency-limits} {@link AIMDLimit} (a maintained, tested
 * implementation of additive increase, multiplicative decrease); this class decides, per answered call, whether
 * that call is a reason to raise the limit, to cut it, or neither. AIMD fits because the engine tells us directly
 * when it is congested, so a loss-style signal is available and a latency-only estimator would only guess at it.
 * The rules:
 * <ul>
 *   <li><b>Cut</b> by {@link #BACKOFF} when a fresh reading of the engine's metrics ({@link EngineSignals}) shows
 *       requests queueing past {@link #QUEUE_TOLERANCE} of its running batch (at least one) or its KV pool at
 *       {@link #KV_HIGH} or more; when a call ends in HTTP 429, 503 or 529 (after the client honoured
 *       {@code Retry-After}) or takes longer than the engine timeout; or, where the engine publishes no queue (the
 *       hosted APIs), when its time to first token is more than {@link #TTFT_CUT} times the baseline (the latency
 *       gradient: the only load signal such an engine gives). At most one cut per reading, and at most one per round trip: a call that started before the
 *       last cut does not cut again, because it was sent under the old limit (the engine's queue drains only as
 *       those calls end; cutting once per reading while it drains collapsed the limit).
 *   <li><b>Raise</b> by one per answered call while nothing calls for a cut and the call's time to first token is
 *       within {@link #TTFT_HOLD} times the baseline. Where the engine publishes its queue and KV usage and they
 *       show room (no queue past the tolerance, KV below {@link #KV_ROOM}), the limit rises whatever share of it
 *       is in use: agents waiting on tools leave gaps in the in-flight count, and AIMD's own rule (raise only while
 *       half the limit is in use) kept the limit from climbing on an idle engine (W2 in {@code bench/run flow}).
 *       Without engine metrics, AIMD's rule stands: an unused limit is no evidence that more would be served.
 * </ul>
 * The engine's queue is shared truth, so several workers on one engine all back off when it fills, and their
 * combined in-flight stays near what it can run. The TTFT baseline is the least time to first token seen lately:
 * the least so far, drifting up by {@link #BASELINE_DRIFT} per call so that it follows an engine whose idle
 * latency changes.
 *
 * <p>Every change of the limit is logged at debug with its reason and the engine's reading. {@link #limit()} is
 * read by the consumer loop before each dispatch; the in-flight count at each call's start is kept for the summary
 * ({@link #inFlightSummary()}). Thread-safe.
 */
public final class AdaptiveConcurrency implements EngineClient {

    private static final Logger LOGGER = LoggerFactory.getLogger(AdaptiveConcurrency.class);
    /** Queued requests tolerated, as a share of the engine's running batch, before the limit is cut. */
    static final double QUEUE_TOLERANCE = 0.1;
    /** KV usage at which the limit is cut: new requests would evict the shared prefix or wait. */
    static final double KV_HIGH = 0.95;
    /** The multiplicative decrease. */
    static final double BACKOFF = 0.8;
    /** KV usage below which the engine has room: the limit may rise however much of it is in use. */
    static final double KV_ROOM = 0.8;
    /** Time to first token, over the baseline, above which the limit does not rise. */
    static final double TTFT_HOLD = 2.0;
    /** Time to first token, over the baseline, above which the limit is cut. */
    static final double TTFT_CUT = 4.0;
    /** Milliseconds of time to first token above the baseline that never count as inflated (timer and network noise). */
    static final long TTFT_SLACK_MS = 50;
    /** How much the TTFT baseline rises per call when no call is faster. */
    static final double BASELINE_DRIFT = 0.01;
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

    private final boolean adaptive;
    private volatile EngineMetrics lastCut;
    /** When the limit was last cut ({@link System#nanoTime()}); calls started before it cut no more. */
    private volatile long lastCutNanos = System.nanoTime();
    /** The least time to first token seen lately, drifting up; NaN before the first. Guarded by this. */
    private double ttftBaselineMs = Double.NaN;

    private AdaptiveConcurrency(
            EngineClient delegate, Supplier<EngineMetrics> signals, Limit limit, int ceiling, boolean adaptive) {
        this.delegate = delegate;
        this.adaptive = adaptive;
        this.signals = signals;
        this.limit = limit;
        this.ceiling = ceiling;
        this.startsAt = new AtomicLongArray(ceiling + 1);
    }

    /**
     * A limit found from the engine's signals, from {@link #initialLimit} up to {@code ceiling}.
     *
     * @param signals the engine's latest reading ({@link EngineSignals#latest()}); a new object per reading
     */
    static AdaptiveConcurrency adaptive(
            EngineClient delegate, Supplier<EngineMetrics> signals, int ceiling, Duration engineTimeout) {
        return new AdaptiveConcurrency(
                delegate,
                signals,
                AIMDLimit.newBuilder()
                        .initialLimit(initialLimit(ceiling))
                        .minLimit(1)
                        .maxLimit(ceiling)
                        .backoffRatio(BACKOFF)
                        .timeout(engineTimeout.toNanos(), TimeUnit.NANOSECONDS)
                        .build(),
                ceiling,
                true);
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
        return new AdaptiveConcurrency(delegate, () -> EngineMetrics.NONE, FixedLimit.of(ceiling), ceiling, false);
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
        if (!adaptive) {
            return;
        }
        EngineMetrics reading = signals.get();
        boolean congested = congested(reading);
        if (congested && reading == lastCut) {
            return; // cut once per reading; neither cut again nor raise until the engine is read again
        }
        Ttft ttft = ttft(response);
        String reason = congested
                ? "engine congested"
                : throttled(response)
                        ? "throttled"
                        : ttft == Ttft.CUT && reading.queueDepth().isEmpty()
                                ? "time to first token over " + TTFT_CUT + "x the baseline"
                                : null;
        long now = System.nanoTime();
        if (reason != null) {
            if (start - lastCutNanos < 0) {
                return; // sent under the limit before the last cut: one cut per round trip
            }
            lastCutNanos = now;
            if (congested) {
                lastCut = reading;
            }
        }
        int before = limit.getLimit();
        boolean room = hasRoom(reading);
        // Where the engine shows room, utilisation is no reason to hold: count the call as if the limit were in use.
        int inFlightSeen = reason == null && room ? Math.max(inFlightAtStart, (before + 1) / 2) : inFlightAtStart;
        if (reason == null && ttft != Ttft.NORMAL) {
            return;
        }
        limit.onSample(start, now - start, inFlightSeen, reason != null);
        int after = limit.getLimit();
        if (after != before && LOGGER.isDebugEnabled()) {
            LOGGER.debug(
                    "in-flight limit changed: limit={} from={} inFlight={} inFlightAtStart={} ceiling={} reason={} "
                            + "queue={} running={} kv={} ttftMs={} ttftBaselineMs={}",
                    after,
                    before,
                    inFlight.get(),
                    inFlightAtStart,
                    ceiling,
                    reason == null ? (room ? "answered, engine has room" : "answered") : reason,
                    reading.queueDepth(),
                    reading.runningRequests(),
                    reading.kvUsage(),
                    response == null ? "" : response.timeToFirstTokenMs(),
                    ttftBaseline());
        }
    }

    /** How a call's time to first token compares with the baseline. */
    private enum Ttft {
        NORMAL,
        HOLD,
        CUT
    }

    /** Folds the call's time to first token into the baseline and says how it compares with it. */
    private synchronized Ttft ttft(ChatResponse response) {
        if (response == null
                || response.isFailure()
                || response.timeToFirstTokenMs().isEmpty()) {
            return Ttft.NORMAL;
        }
        double ms = response.timeToFirstTokenMs().getAsLong();
        double baseline = ttftBaselineMs;
        ttftBaselineMs = Double.isNaN(baseline) ? ms : Math.min(ms, baseline * (1 + BASELINE_DRIFT));
        if (Double.isNaN(baseline) || ms - baseline <= TTFT_SLACK_MS) {
            return Ttft.NORMAL;
        }
        return ms > TTFT_CUT * baseline ? Ttft.CUT : ms > TTFT_HOLD * baseline ? Ttft.HOLD : Ttft.NORMAL;
    }

    /** The least time to first token seen lately, in milliseconds; NaN before any. */
    synchronized double ttftBaseline() {
        return ttftBaselineMs;
    }

    /** Whether a reading shows an engine with room: its queue and KV usage published, no queue, KV below {@link #KV_ROOM}. */
    static boolean hasRoom(EngineMetrics reading) {
        OptionalDouble queue = reading.queueDepth();
        OptionalDouble kv = reading.kvUsage();
        return queue.isPresent() && kv.isPresent() && !congested(reading) && kv.getAsDouble() < KV_ROOM;
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
        return failure != null
                && failure.httpStatus().isPresent()
                && THROTTLED.contains(failure.httpStatus().getAsInt());
    }
}
