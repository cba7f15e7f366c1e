package io.batchagent.worker;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.InvalidRecordException;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.RecordBatchTooLargeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.RetriableException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends records and retries those whose failure is retriable, with bounded backoff, so that a stage
 * can publish a computed outcome again without computing it again.
 *
 * <p>A failure is classified by walking its cause chain ({@link #classify}): a record too large for
 * the producer's or the broker's limits is {@link FailureKind#TOO_LARGE}; a Kafka
 * {@link RetriableException} (a timeout, not enough replicas, a leader change...) is
 * {@link FailureKind#RETRIABLE}; anything else (an invalid record, an authorization failure, a
 * closed producer) is {@link FailureKind#FATAL}. Only retriable failures are retried, up to
 * {@link Policy#maxAttempts()} sends per record; the producer's own retries happen inside each send.
 *
 * <p>Thread-safe. Retries run on the given executor after their backoff. After {@link #stop()} no
 * retry starts: the record fails with a {@link SendFailedException} saying the sender stopped.
 */
public final class RetryingSender<K, V> {

    private static final Logger LOGGER = LoggerFactory.getLogger(RetryingSender.class);

    /** What a failed send means for the record. */
    public enum FailureKind {
        /** Sending it again may succeed. */
        RETRIABLE,
        /** It exceeds a size limit: sending it again cannot succeed. */
        TOO_LARGE,
        /** Sending it again cannot succeed. */
        FATAL
    }

    /**
     * @param maxAttempts sends of one record in all, the first included; at least 1
     * @param initialBackoff wait before the first retry; it doubles per retry up to {@code maxBackoff}
     */
    public record Policy(int maxAttempts, Duration initialBackoff, Duration maxBackoff) {
        public Policy {
            if (maxAttempts < 1) {
                throw new IllegalArgumentException("maxAttempts must be at least 1, got " + maxAttempts);
            }
            Objects.requireNonNull(initialBackoff, "initialBackoff");
            Objects.requireNonNull(maxBackoff, "maxBackoff");
            if (initialBackoff.isNegative() || maxBackoff.compareTo(initialBackoff) < 0) {
                throw new IllegalArgumentException(
                        "need 0 <= initialBackoff <= maxBackoff, got " + initialBackoff + " and " + maxBackoff);
            }
        }

        /** 6 sends, backoff 200 ms doubling to 10 s: about half a minute of retries beyond the producer's own. */
        public static Policy defaults() {
            return new Policy(6, Duration.ofMillis(200), Duration.ofSeconds(10));
        }

        long backoffMs(int failedAttempts) {
            long ms = initialBackoff.toMillis() << Math.min(20, failedAttempts - 1);
            return Math.min(ms, maxBackoff.toMillis());
        }
    }

    /** A record that could not be sent: which, why, and after how many sends. */
    public static final class SendFailedException extends KafkaException {
        private static final long serialVersionUID = 1L;
        private final transient ProducerRecord<?, ?> record;
        private final transient FailureKind kind;
        private final int attempts;

        SendFailedException(
                ProducerRecord<?, ?> record, FailureKind kind, int attempts, String message, Throwable cause) {
            super(message, cause);
            this.record = record;
            this.kind = kind;
            this.attempts = attempts;
        }

        /** The record that was not sent. */
        public ProducerRecord<?, ?> record() {
            return record;
        }

        public FailureKind kind() {
            return kind;
        }

        /** Sends tried, 0 when none was (the sender had stopped). */
        public int attempts() {
            return attempts;
        }
    }

    private final Producer<K, V> producer;
    private final Policy policy;
    private final Executor executor;
    private volatile boolean stopped;

    /** @param executor runs the retries after their backoff */
    public RetryingSender(Producer<K, V> producer, Policy policy, Executor executor) {
        this.producer = producer;
        this.policy = policy;
        this.executor = executor;
    }

    /** Classifies a send failure by walking its cause chain; see the class contract. */
    public static FailureKind classify(Throwable error) {
        Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Throwable t = error; t != null && seen.add(t); t = t.getCause()) {
            if (t instanceof SendFailedException failed) {
                return failed.kind();
            }
            if (t instanceof RecordTooLargeException || t instanceof RecordBatchTooLargeException) {
                return FailureKind.TOO_LARGE;
            }
            if (t instanceof InvalidRecordException) {
                return FailureKind.FATAL;
            }
            if (t instanceof RetriableException) {
                return FailureKind.RETRIABLE;
            }
        }
        return FailureKind.FATAL;
    }

    /**
     * Sends {@code records} in order and completes when every one is acknowledged. Completes
     * exceptionally with a {@link SendFailedException} as soon as one record cannot be sent: at once
     * when its failure is not retriable, else after its last attempt (the others are not waited for).
     * A record whose send fails at once with a failure that is not retriable (a size limit the producer
     * checks) stops the sending: the records after it are not sent.
     */
    public CompletableFuture<Void> sendAll(List<ProducerRecord<K, V>> records) {
        CompletableFuture<Void> all = new CompletableFuture<>();
        List<CompletableFuture<Void>> sends = new ArrayList<>(records.size());
        for (ProducerRecord<K, V> record : records) {
            CompletableFuture<Void> sent = send(record);
            sends.add(sent);
            sent.whenComplete((ignored, error) -> {
                if (error != null) {
                    all.completeExceptionally(error);
                }
            });
            if (all.isDone()) {
                return all;
            }
        }
        CompletableFuture.allOf(sends.toArray(CompletableFuture[]::new)).whenComplete((ignored, error) -> {
            if (error == null) {
                all.complete(null);
            }
        });
        return all;
    }

    /** Sends one record, retrying retriable failures; completes when acknowledged, or exceptionally with a {@link SendFailedException}. */
    public CompletableFuture<Void> send(ProducerRecord<K, V> record) {
        CompletableFuture<Void> outcome = new CompletableFuture<>();
        attempt(record, 1, outcome);
        return outcome;
    }

    /** No retry starts after this; pending ones fail. Sends already handed to the producer go on. */
    public void stop() {
        stopped = true;
    }

    private void attempt(ProducerRecord<K, V> record, int attempt, CompletableFuture<Void> outcome) {
        if (stopped) {
            outcome.completeExceptionally(new SendFailedException(
                    record,
                    FailureKind.FATAL,
                    attempt - 1,
                    "not sent to " + record.topic() + ": the sender stopped",
                    null));
            return;
        }
        try {
            producer.send(record, (metadata, error) -> {
                if (error == null) {
                    outcome.complete(null);
                } else {
                    failed(record, attempt, error, outcome);
                }
            });
        } catch (RuntimeException e) {
            failed(record, attempt, e, outcome);
        }
    }

    private void failed(ProducerRecord<K, V> record, int attempt, Throwable error, CompletableFuture<Void> outcome) {
        FailureKind kind = classify(error);
        if (kind == FailureKind.RETRIABLE && attempt < policy.maxAttempts() && !stopped) {
            long backoffMs = policy.backoffMs(attempt);
            LOGGER.warn(
                    "send failed, retrying in {} ms: topic={} attempt={} of {} error={}",
                    backoffMs,
                    record.topic(),
                    attempt,
                    policy.maxAttempts(),
                    error.toString());
            CompletableFuture.delayedExecutor(backoffMs, TimeUnit.MILLISECONDS, executor)
                    .execute(() -> attempt(record, attempt + 1, outcome));
            return;
        }
        String message = kind == FailureKind.RETRIABLE
                ? "not sent to " + record.topic() + " after " + attempt + " attempts: " + error.getMessage()
                : "not sent to " + record.topic() + ": " + error.getMessage();
        outcome.completeExceptionally(new SendFailedException(record, kind, attempt, message, error));
    }
}
