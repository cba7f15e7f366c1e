package io.batchagent.tools.limits;

import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The waiting logic over a shared backend (Redis, optional) with a local one standing in while the
 * shared one cannot be used. First a concurrency slot, then a rate token, so that an execution
 * starts as soon as its token is taken and starts are spaced as the rate says.
 */
final class ToolLimits implements ToolLimiter {

    private static final Logger LOGGER = LoggerFactory.getLogger(ToolLimits.class);
    private static final long MIN_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(2);
    private static final long MAX_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

    private final LimitBackend shared;
    private final LimitBackend local = new LocalLimitBackend();
    private final ScheduledExecutorService timer;
    private final Consumer<Throwable> onFallback;

    ToolLimits(LimitBackend shared, ScheduledExecutorService timer, Consumer<Throwable> onFallback) {
        this.shared = shared;
        this.timer = timer;
        this.onFallback = onFallback;
    }

    @Override
    public CompletionStage<Permit> acquire(String tool, Limits limits, Instant deadline) {
        if (limits.unlimited()) {
            return CompletableFuture.completedFuture(Permit.NONE);
        }
        Attempt attempt = new Attempt(tool, limits, deadline);
        attempt.takeSlot(0);
        return attempt.result;
    }

    private LimitBackend backend() {
        return shared != null && shared.usable() ? shared : local;
    }

    private final class Attempt {
        final String tool;
        final Limits limits;
        final Instant deadline;
        final CompletableFuture<Permit> result = new CompletableFuture<>();
        LimitBackend slotBackend;
        String slot;

        Attempt(String tool, Limits limits, Instant deadline) {
            this.tool = tool;
            this.limits = limits;
            this.deadline = deadline;
        }

        void takeSlot(int tries) {
            if (limits.maxConcurrency() == 0) {
                takeToken();
                return;
            }
            if (expired()) {
                return;
            }
            LimitBackend backend = backend();
            stage(() -> backend.tryLease(tool, limits.maxConcurrency(), limits.leaseTtl()))
                    .whenComplete((lease, error) -> {
                        if (error != null) {
                            fellBack(backend, error, () -> takeSlot(tries));
                        } else if (lease.isPresent()) {
                            slotBackend = backend;
                            slot = lease.get();
                            takeToken();
                        } else {
                            later(() -> takeSlot(tries + 1), poll(tries));
                        }
                    });
        }

        void takeToken() {
            if (limits.ratePerSecond() == 0) {
                grant();
                return;
            }
            if (expired()) {
                return;
            }
            LimitBackend backend = backend();
            stage(() -> backend.tryTakeToken(tool, limits.ratePerSecond())).whenComplete((waitNanos, error) -> {
                if (error != null) {
                    fellBack(backend, error, this::takeToken);
                } else if (waitNanos == 0) {
                    grant();
                } else {
                    later(this::takeToken, waitNanos);
                }
            });
        }

        void grant() {
            LimitBackend backend = slotBackend;
            String lease = slot;
            if (lease == null) {
                if (!result.complete(Permit.NONE)) {
                    Permit.NONE.release();
                }
                return;
            }
            AtomicBoolean released = new AtomicBoolean();
            // The slot is the execution's for as long as it runs, however long it outlives its timeout:
            // renewed every half lease, it expires only when its holder is gone.
            long everyMs = Math.max(1, limits.leaseTtl().toMillis() / 2);
            ScheduledFuture<?> renewal;
            try {
                renewal = timer.scheduleAtFixedRate(
                        () -> stage(() -> backend.renew(tool, lease, limits.leaseTtl()))
                                .whenComplete((ignored, error) -> {
                                    if (error != null) {
                                        LOGGER.debug(
                                                "could not renew a concurrency slot; trying again: tool={} error={}",
                                                tool,
                                                error.toString());
                                    }
                                }),
                        everyMs,
                        everyMs,
                        TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException e) {
                releaseSlot();
                result.completeExceptionally(e); // the worker is stopping
                return;
            }
            Permit permit = () -> {
                if (released.compareAndSet(false, true)) {
                    renewal.cancel(false);
                    stage(() -> backend.release(tool, lease)).whenComplete((ignored, error) -> {
                        if (error != null) {
                            LOGGER.debug(
                                    "could not release a concurrency slot; it expires by itself: tool={} error={}",
                                    tool,
                                    error.toString());
                        }
                    });
                }
            };
            if (!result.complete(permit)) {
                permit.release();
            }
        }

        boolean expired() {
            if (Instant.now().isBefore(deadline)) {
                return false;
            }
            releaseSlot();
            result.completeExceptionally(new LimitTimeoutException(describe()));
            return true;
        }

        void releaseSlot() {
            if (slot != null) {
                String lease = slot;
                slot = null;
                stage(() -> slotBackend.release(tool, lease));
            }
        }

        void fellBack(LimitBackend failed, Throwable error, Runnable retry) {
            if (failed == local) {
                result.completeExceptionally(error); // a bug, not an outage: do not spin
                return;
            }
            onFallback.accept(error);
            retry.run(); // backend() now answers local while the link is bypassed
        }

        void later(Runnable step, long delayNanos) {
            long left = deadline.toEpochMilli() - System.currentTimeMillis();
            long delay = Math.min(delayNanos, TimeUnit.MILLISECONDS.toNanos(Math.max(0, left)) + 1);
            try {
                timer.schedule(step, delay, TimeUnit.NANOSECONDS);
            } catch (RejectedExecutionException e) {
                releaseSlot();
                result.completeExceptionally(e); // the worker is stopping
            }
        }

        String describe() {
            StringBuilder limitsText = new StringBuilder();
            if (limits.maxConcurrency() > 0) {
                limitsText.append("concurrency limit ").append(limits.maxConcurrency());
            }
            if (limits.ratePerSecond() > 0) {
                limitsText
                        .append(limitsText.length() > 0 ? " and " : "")
                        .append("rate limit ")
                        .append(limits.ratePerSecond())
                        .append("/s");
            }
            return "tool '" + tool + "' could not start before its deadline: its " + limitsText
                    + " admitted it no sooner";
        }
    }

    private static long poll(int tries) {
        long base = Math.min(MAX_POLL_NANOS, MIN_POLL_NANOS << Math.min(tries, 5));
        return base + ThreadLocalRandom.current().nextLong(MIN_POLL_NANOS);
    }

    private static <T> CompletionStage<T> stage(java.util.function.Supplier<CompletionStage<T>> operation) {
        try {
            return operation.get();
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }
}
