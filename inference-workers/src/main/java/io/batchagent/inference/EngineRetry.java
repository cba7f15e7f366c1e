package io.batchagent.inference;

import io.github.resilience4j.retry.Retry;
import io.github.resilience4j.retry.RetryConfig;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiFunction;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Bounded, asynchronous retries of model calls, shared by every engine client (resilience4j
 * {@link Retry} over a {@link ScheduledExecutorService}: a call waiting to retry holds no thread and no
 * connection, so it never stalls another call).
 *
 * <p>Policy: at most {@link InferenceWorkerConfig#maxAttempts()} attempts; an attempt is retried only when
 * its {@link AttemptFailure} is retriable. The wait before the next attempt is the engine's
 * {@code Retry-After} plus up to 10% jitter when it sent one (a longer one than
 * {@link InferenceWorkerConfig#MAX_RETRY_AFTER} is not waited for: the call fails at once, saying so), else
 * an exponential backoff from {@link InferenceWorkerConfig#retryBackoff()} with equal jitter, capped at
 * {@link InferenceWorkerConfig#MAX_BACKOFF}.
 *
 * <p>The configured API key is masked in every failure it hands back and every line it logs, in case an
 * engine echoes it. Thread-safe. {@link #close()} stops the scheduler; calls waiting to retry then fail.
 */
final class EngineRetry implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(EngineRetry.class);

    /** Who a call is for, for the retry log line. */
    record Label(String jobId, int turn, String model) {}

    private final Retry retry;
    private final Duration backoff;
    private final String secret;
    private final ScheduledExecutorService scheduler;

    EngineRetry(String name, InferenceWorkerConfig config) {
        this.backoff = config.retryBackoff();
        this.secret = config.engineApiKey();
        this.retry = Retry.of(
                name,
                RetryConfig.custom()
                        .maxAttempts(config.maxAttempts())
                        .retryOnException(
                                error -> unwrap(error) instanceof AttemptFailure failure && failure.worthRetrying())
                        .intervalBiFunction(
                                (attempt, outcome) -> delayMillis(attempt, outcome.isLeft() ? outcome.getLeft() : null))
                        .build());
        this.scheduler = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, name + "-retry");
            thread.setDaemon(true);
            return thread;
        });
    }

    /**
     * Runs {@code attempt} (given its number, from 1) until it succeeds, fails in a way not worth retrying,
     * or the attempts are used up; then completes with its value, or with {@code onFailure} applied to the
     * last failure and the number of attempts made. Never completes exceptionally unless
     * {@code onFailure} throws.
     *
     * @param attempt one attempt; it fails with an {@link AttemptFailure} (anything else is not retried)
     */
    <T> CompletableFuture<T> call(
            Label label, IntFunction<CompletionStage<T>> attempt, BiFunction<AttemptFailure, Integer, T> onFailure) {
        AtomicInteger attempts = new AtomicInteger();
        AtomicReference<Throwable> last = new AtomicReference<>();
        CompletionStage<T> outcome;
        try {
            outcome = retry.executeCompletionStage(scheduler, () -> {
                int number = attempts.incrementAndGet();
                if (number > 1) {
                    LOGGER.warn(
                            "engine call failed, attempt {} of {}: jobId={} turn={} model={} cause={}",
                            number,
                            retry.getRetryConfig().getMaxAttempts(),
                            label.jobId(),
                            label.turn(),
                            label.model(),
                            redact(describe(last.get())));
                }
                CompletionStage<T> stage;
                try {
                    stage = attempt.apply(number);
                } catch (RuntimeException e) {
                    stage = CompletableFuture.failedFuture(e);
                }
                return stage.whenComplete((value, error) -> last.set(error));
            });
        } catch (RuntimeException e) {
            outcome = CompletableFuture.failedFuture(e);
        }
        return outcome.toCompletableFuture().handle((value, error) -> {
            if (error == null) {
                return value;
            }
            Throwable cause = unwrap(error);
            AttemptFailure failure = cause instanceof AttemptFailure known
                    ? known
                    : new AttemptFailure(null, "engine call failed unexpectedly", describe(cause), false, null);
            // An engine may echo the key it refused; it must not reach a log, an event or a result.
            return onFailure.apply(failure.redacted(secret), Math.max(1, attempts.get()));
        });
    }

    private long delayMillis(int attempt, Throwable error) {
        Throwable cause = error == null ? null : unwrap(error);
        ThreadLocalRandom random = ThreadLocalRandom.current();
        if (cause instanceof AttemptFailure failure && failure.retryAfter != null) {
            long asked = failure.retryAfter.toMillis();
            return asked + random.nextLong(asked / 10 + 1);
        }
        long ceiling = InferenceWorkerConfig.MAX_BACKOFF.toMillis();
        long exponential = backoff.toMillis() << Math.min(20, Math.max(0, attempt - 1));
        long capped = Math.min(ceiling, Math.max(1, exponential));
        return capped / 2 + random.nextLong(capped / 2 + 1);
    }

    private String redact(String text) {
        return secret == null || text == null ? text : text.replace(secret, "****");
    }

    static Throwable unwrap(Throwable error) {
        Throwable cause = error;
        while ((cause instanceof CompletionException || cause instanceof ExecutionException)
                && cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause;
    }

    static String describe(Throwable error) {
        if (error == null) {
            return "unknown";
        }
        Throwable cause = unwrap(error);
        if (cause instanceof AttemptFailure failure) {
            return failure.getMessage();
        }
        Throwable root = cause;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage();
        return root.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
    }
}
