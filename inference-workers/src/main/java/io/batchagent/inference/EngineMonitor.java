package io.batchagent.inference;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Objects;
import java.util.OptionalDouble;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Looks at the engine every interval ({@link EngineAdmin#probe()}) and publishes what it saw:
 *
 * <ul>
 *   <li>{@code batchagent_engine_reachable}: 1 when the engine answered the last look, else 0;
 *   <li>{@code batchagent_engine_queue_depth} and {@code batchagent_engine_running_requests}: the engine's own
 *       waiting and running request gauges (NaN where it publishes none, as the hosted APIs);
 *   <li>{@code batchagent_engine_prompt_tokens_total} and {@code batchagent_engine_cached_tokens_total}: the
 *       engine's own prefix-cache counters, to reconcile with the per-request usage.
 * </ul>
 *
 * <p>Until the first look completes the engine counts as unreachable. Thread-safe; {@link #close()} stops
 * looking and closes the admin it was given (the scheduler stays the caller's).
 */
public final class EngineMonitor implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(EngineMonitor.class);

    private final EngineAdmin admin;
    private final String engine;
    private final ScheduledFuture<?> schedule;
    private volatile EngineAdmin.Probe last = new EngineAdmin.Probe(false, "not looked at yet", EngineMetrics.NONE);

    private EngineMonitor(
            EngineAdmin admin,
            String engine,
            MeterRegistry registry,
            ScheduledExecutorService scheduler,
            Duration interval) {
        this.admin = Objects.requireNonNull(admin, "admin");
        this.engine = engine;
        Gauge.builder("batchagent.engine.reachable", this, m -> m.last.reachable() ? 1 : 0)
                .description("1 when the engine answered the last look, else 0")
                .register(registry);
        Gauge.builder(
                        "batchagent.engine.queue.depth",
                        this,
                        m -> orNaN(m.last.metrics().queueDepth()))
                .description("Requests waiting in the engine's queue, as the engine reports them")
                .register(registry);
        Gauge.builder(
                        "batchagent.engine.running.requests",
                        this,
                        m -> orNaN(m.last.metrics().runningRequests()))
                .description("Requests in the engine's running batch, as the engine reports them")
                .register(registry);
        FunctionCounter.builder(
                        "batchagent.engine.prompt.tokens",
                        this,
                        m -> orNaN(m.last.metrics().promptTokens()))
                .description("Prompt tokens the engine counted (its own counter)")
                .register(registry);
        FunctionCounter.builder(
                        "batchagent.engine.cached.tokens",
                        this,
                        m -> orNaN(m.last.metrics().cachedTokens()))
                .description("Prompt tokens the engine served from its prefix cache (its own counter)")
                .register(registry);
        this.schedule = scheduler.scheduleWithFixedDelay(this::look, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Starts looking at the engine behind {@code admin} every {@code interval} on {@code scheduler}.
     *
     * @param engine how the engine is named in logs (never with a key)
     */
    public static EngineMonitor start(
            EngineAdmin admin,
            String engine,
            MeterRegistry registry,
            ScheduledExecutorService scheduler,
            Duration interval) {
        return new EngineMonitor(admin, engine, registry, scheduler, interval);
    }

    /** What the last look found. */
    public EngineAdmin.Probe last() {
        return last;
    }

    private void look() {
        try {
            EngineAdmin.Probe probe = admin.probe().get(30, TimeUnit.SECONDS);
            if (probe.reachable() != last.reachable()) {
                LOGGER.info("engine reachable={} engine={} detail={}", probe.reachable(), engine, probe.detail());
            }
            last = probe;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            // A scheduled task that throws is never run again: a failed look is data.
            last = new EngineAdmin.Probe(false, e.toString(), EngineMetrics.NONE);
        }
    }

    private static double orNaN(OptionalDouble value) {
        return value.orElse(Double.NaN);
    }

    @Override
    public void close() {
        schedule.cancel(true);
        admin.close();
    }
}
