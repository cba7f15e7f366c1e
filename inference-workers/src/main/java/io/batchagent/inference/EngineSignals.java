package io.batchagent.inference;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine's own view of its load, read from its metrics page every interval for the worker's flow control
 * ({@link AdaptiveConcurrency}): queue depth, running requests, KV usage. Each reading is a new
 * {@link EngineMetrics} object, so a reader can tell a fresh reading from one it has acted on.
 *
 * <p>{@link #latest()} is {@link EngineMetrics#NONE} until the first reading, and always for an engine
 * without a metrics page (the hosted APIs) or with {@link #none()}. Thread-safe; {@link #close()} stops reading
 * and closes the admin.
 */
final class EngineSignals implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(EngineSignals.class);
    /** How often the engine's metrics page is read: a few times per typical model call. */
    static final Duration INTERVAL = Duration.ofMillis(250);

    private final EngineAdmin admin;
    private final ScheduledExecutorService scheduler;
    private volatile EngineMetrics latest = EngineMetrics.NONE;

    private EngineSignals(EngineAdmin admin, Duration interval) {
        this.admin = admin;
        if (admin == null) {
            this.scheduler = null;
            return;
        }
        this.scheduler = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, "batchagent-engine-signals");
            thread.setDaemon(true);
            return thread;
        });
        scheduler.scheduleWithFixedDelay(this::read, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Reads {@code admin}'s metrics page every {@code interval}; the signals own the admin. */
    static EngineSignals polling(EngineAdmin admin, Duration interval) {
        return new EngineSignals(admin, interval);
    }

    /** No signals: the engine's load is known only from its answers. */
    static EngineSignals none() {
        return new EngineSignals(null, INTERVAL);
    }

    EngineMetrics latest() {
        return latest;
    }

    private void read() {
        try {
            // probe() rather than scrapeMetrics(): it does not log, and an engine that is down is the outage
            // guard's business, not a line every interval.
            latest = admin.probe()
                    .get(INTERVAL.toMillis() * 40, TimeUnit.MILLISECONDS)
                    .metrics();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            // A scheduled task that throws is never run again; the last reading stays until a new one comes.
            LOGGER.debug("engine metrics not read: cause={}", EngineRetry.describe(e));
        }
    }

    @Override
    public void close() {
        if (scheduler != null) {
            scheduler.shutdownNow();
            admin.close();
        }
    }
}
