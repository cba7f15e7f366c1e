package io.batchagent.worker;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A plain Kafka consumer loop that keeps at most {@code maxInFlight} records in processing at once,
 * while processing completes out of order.
 *
 * <p>Guarantees:
 * <ul>
 *   <li>At most {@link Options#maxInFlight()} handler calls are incomplete at any moment. A slot is
 *       taken when the handler is called and released when its stage completes.
 *   <li>Only offsets below which every record is done are committed, so a crash repeats at most the
 *       records that were buffered or in flight (at-least-once).
 *   <li>Fetching stops (partitions paused) while {@link Options#maxBuffered()} records wait for a
 *       slot, and resumes when the buffer drains; the consumer keeps polling, so it stays in its group.
 *   <li>Among buffered records, those the {@link Options#priority()} comparator orders first are
 *       dispatched first.
 * </ul>
 *
 * <p>The handler runs on the poll thread and must not block: it starts work and returns a stage.
 * Expected failures are data; a stage that completes exceptionally (for example its output could
 * not be published) is handled again, up to {@link Options#handlerAttempts()} times with backoff,
 * its offset uncommitted meanwhile; after the last attempt it is logged with topic/partition/offset,
 * passed to {@link Options#onHandlerFailure()}, and the record counts as done so the pipeline goes on.
 *
 * <p>{@link #run()} owns the consumer; {@link #close()} may be called from any thread.
 */
public final class InFlightConsumer<K, V> implements Runnable, AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(InFlightConsumer.class);

    /** Starts the processing of one record. */
    @FunctionalInterface
    public interface Handler<K, V> {
        CompletionStage<?> handle(ConsumerRecord<K, V> record);
    }

    /**
     * @param name for logs and thread names
     * @param maxInFlight records in processing at once, at least 1
     * @param maxBuffered fetched records waiting for a slot before fetching pauses, at least 1
     * @param pollTimeout longest wait in poll; completions wake the loop earlier
     * @param commitInterval how often completed offsets are committed
     * @param priority dispatch order among buffered records, or null for fetch order
     * @param onHandlerFailure called for a stage that still completed exceptionally on its last attempt
     * @param handlerAttempts how many times a record whose stage completes exceptionally is handled
     *     (the retries wait 100 ms, then 200 ms, ...); its offset stays uncommitted meanwhile
     */
    public record Options<K, V>(
            String name,
            int maxInFlight,
            int maxBuffered,
            Duration pollTimeout,
            Duration commitInterval,
            Comparator<ConsumerRecord<K, V>> priority,
            BiConsumer<ConsumerRecord<K, V>, Throwable> onHandlerFailure,
            int handlerAttempts) {

        public Options {
            Objects.requireNonNull(name, "name");
            if (maxInFlight < 1) {
                throw new IllegalArgumentException("maxInFlight must be at least 1, got " + maxInFlight);
            }
            if (maxBuffered < 1) {
                throw new IllegalArgumentException("maxBuffered must be at least 1, got " + maxBuffered);
            }
            pollTimeout = pollTimeout == null ? Duration.ofMillis(100) : pollTimeout;
            commitInterval = commitInterval == null ? Duration.ofMillis(100) : commitInterval;
            onHandlerFailure = onHandlerFailure == null ? (r, e) -> { } : onHandlerFailure;
            if (handlerAttempts < 1) {
                throw new IllegalArgumentException("handlerAttempts must be at least 1, got " + handlerAttempts);
            }
        }

        /** Defaults: buffer twice the in-flight bound (at least 16), fetch order, 100 ms poll and commit. */
        public static <K, V> Options<K, V> of(String name, int maxInFlight) {
            return new Options<>(name, maxInFlight, Math.max(16, 2 * maxInFlight), null, null, null, null, 3);
        }

        public Options<K, V> withPriority(Comparator<ConsumerRecord<K, V>> order) {
            return new Options<>(name, maxInFlight, maxBuffered, pollTimeout, commitInterval, order, onHandlerFailure, handlerAttempts);
        }

        public Options<K, V> withMaxBuffered(int buffered) {
            return new Options<>(name, maxInFlight, buffered, pollTimeout, commitInterval, priority, onHandlerFailure, handlerAttempts);
        }

        public Options<K, V> withCommitInterval(Duration interval) {
            return new Options<>(name, maxInFlight, maxBuffered, pollTimeout, interval, priority, onHandlerFailure, handlerAttempts);
        }

        public Options<K, V> withHandlerAttempts(int attempts) {
            return new Options<>(name, maxInFlight, maxBuffered, pollTimeout, commitInterval, priority, onHandlerFailure, attempts);
        }

        public Options<K, V> withOnHandlerFailure(BiConsumer<ConsumerRecord<K, V>, Throwable> onFailure) {
            return new Options<>(name, maxInFlight, maxBuffered, pollTimeout, commitInterval, priority, onFailure, handlerAttempts);
        }
    }

    private record Buffered<K, V>(ConsumerRecord<K, V> record, long sequence) {}

    private final Consumer<K, V> consumer;
    private final Collection<String> topics;
    private final Handler<K, V> handler;
    private final Options<K, V> options;
    private final PriorityQueue<Buffered<K, V>> buffer;
    private final OffsetTracker offsets = new OffsetTracker();
    private final ConcurrentLinkedQueue<ConsumerRecord<K, V>> completions = new ConcurrentLinkedQueue<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger peakInFlight = new AtomicInteger();
    private final AtomicLong completed = new AtomicLong();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final java.util.Map<ConsumerRecord<K, V>, Integer> attempts = new java.util.concurrent.ConcurrentHashMap<>();
    private final ConcurrentLinkedQueue<ConsumerRecord<K, V>> retries = new ConcurrentLinkedQueue<>();
    private final java.util.concurrent.ScheduledExecutorService retryTimer =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                Thread thread = new Thread(r, "in-flight-consumer-retries");
                thread.setDaemon(true);
                return thread;
            });
    private volatile boolean running = true;
    private volatile boolean started;
    private volatile boolean assignmentReceived;
    // started is set by run(); close() before run() closes the consumer itself.
    private long sequence;
    private boolean paused;
    private long lastCommitNanos = System.nanoTime();

    /**
     * @param consumer a consumer with {@code enable.auto.commit=false}; this loop owns and closes it
     */
    public InFlightConsumer(Consumer<K, V> consumer, Collection<String> topics, Handler<K, V> handler,
                            Options<K, V> options) {
        this.consumer = consumer;
        this.topics = List.copyOf(topics);
        this.handler = handler;
        this.options = options;
        Comparator<Buffered<K, V>> bySequence = Comparator.comparingLong(Buffered::sequence);
        this.buffer = new PriorityQueue<>(options.priority() == null ? bySequence
                : Comparator.<Buffered<K, V>, ConsumerRecord<K, V>>comparing(Buffered::record, options.priority())
                        .thenComparing(bySequence));
    }

    /** Starts {@link #run()} on a new daemon-less platform thread named after the loop. */
    public Thread start() {
        Thread thread = new Thread(this, options.name());
        thread.start();
        return thread;
    }

    @Override
    public void run() {
        started = true;
        try {
            consumer.subscribe(topics, new RebalanceListener());
            while (running) {
                drainCompletions();
                drainRetries();
                dispatch();
                updatePause();
                commitIfDue(false);
                poll();
            }
            drainCompletions();
            commitIfDue(true);
        } catch (RuntimeException e) {
            LOGGER.error("consumer loop {} stopped on an unexpected error", options.name(), e);
            throw e;
        } finally {
            try {
                consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
            } catch (RuntimeException e) {
                LOGGER.warn("consumer loop {} did not close cleanly", options.name(), e);
            }
            retryTimer.shutdownNow();
            stopped.countDown();
        }
    }

    /** Records in processing now. */
    public int inFlight() {
        return inFlight.get();
    }

    /** The most records ever in processing at once. */
    public int peakInFlight() {
        return peakInFlight.get();
    }

    /** Records whose processing completed. */
    public long completed() {
        return completed.get();
    }

    /**
     * Whether the group has given this consumer its first assignment (possibly of no partitions) and the
     * loop still runs: what a readiness probe asks of a worker.
     */
    public boolean assignmentReceived() {
        return assignmentReceived && running && stopped.getCount() > 0;
    }

    private void poll() {
        try {
            for (ConsumerRecord<K, V> record : consumer.poll(options.pollTimeout())) {
                offsets.fetched(new TopicPartition(record.topic(), record.partition()), record.offset());
                buffer.add(new Buffered<>(record, sequence++));
            }
        } catch (WakeupException e) {
            // A completion or close() woke us: loop round to handle it.
        }
    }

    private void dispatch() {
        while (inFlight.get() < options.maxInFlight() && !buffer.isEmpty()) {
            ConsumerRecord<K, V> record = buffer.poll().record();
            int now = inFlight.incrementAndGet();
            peakInFlight.accumulateAndGet(now, Math::max);
            CompletionStage<?> stage;
            try {
                stage = handler.handle(record);
            } catch (RuntimeException e) {
                stage = java.util.concurrent.CompletableFuture.failedFuture(e);
            }
            stage.whenComplete((ignored, error) -> {
                if (error != null && retryLater(record, error)) {
                    return;
                }
                attempts.remove(record);
                if (error != null) {
                    LOGGER.error("handler failed after {} attempts: loop={} topic={} partition={} offset={}",
                            options.handlerAttempts(), options.name(), record.topic(), record.partition(), record.offset(), error);
                    try {
                        options.onHandlerFailure().accept(record, error);
                    } catch (RuntimeException e) {
                        LOGGER.error("onHandlerFailure failed: topic={} partition={} offset={}",
                                record.topic(), record.partition(), record.offset(), e);
                    }
                }
                inFlight.decrementAndGet();
                completed.incrementAndGet();
                completions.add(record);
                if (running) {
                    consumer.wakeup();
                }
            });
        }
    }

    /**
     * Schedules another attempt of a record whose stage failed, unless it has had all its attempts;
     * the slot is free meanwhile and the offset stays uncommitted. Returns whether it will retry.
     */
    private boolean retryLater(ConsumerRecord<K, V> record, Throwable error) {
        int attempt = attempts.merge(record, 1, Integer::sum);
        if (attempt >= options.handlerAttempts() || !running) {
            return false;
        }
        long backoffMs = 100L << (attempt - 1);
        LOGGER.warn("handler failed, retrying in {} ms: loop={} topic={} partition={} offset={} attempt={} error={}",
                backoffMs, options.name(), record.topic(), record.partition(), record.offset(), attempt, error.toString());
        inFlight.decrementAndGet();
        retryTimer.schedule(() -> {
            retries.add(record);
            consumer.wakeup();
        }, backoffMs, TimeUnit.MILLISECONDS);
        return true;
    }

    /** Puts records due for another attempt back in the buffer (unless their partition was revoked). */
    private void drainRetries() {
        ConsumerRecord<K, V> record;
        while ((record = retries.poll()) != null) {
            if (offsets.tracks(new TopicPartition(record.topic(), record.partition()))) {
                buffer.add(new Buffered<>(record, sequence++));
            } else {
                attempts.remove(record);
            }
        }
    }

    private void drainCompletions() {
        ConsumerRecord<K, V> record;
        while ((record = completions.poll()) != null) {
            offsets.done(new TopicPartition(record.topic(), record.partition()), record.offset());
        }
    }

    private void updatePause() {
        Set<TopicPartition> assignment = consumer.assignment();
        if (!paused && buffer.size() >= options.maxBuffered()) {
            consumer.pause(assignment);
            paused = true;
        } else if (paused && buffer.size() < options.maxBuffered()) {
            consumer.resume(consumer.paused());
            paused = false;
        } else if (paused) {
            consumer.pause(assignment); // newly assigned partitions start unpaused
        }
    }

    private void commitIfDue(boolean force) {
        long now = System.nanoTime();
        if (!force && now - lastCommitNanos < options.commitInterval().toNanos()) {
            return;
        }
        lastCommitNanos = now;
        Map<TopicPartition, OffsetAndMetadata> ready = offsets.committable();
        if (ready.isEmpty()) {
            return;
        }
        try {
            consumer.commitSync(ready);
            offsets.markCommitted(ready);
        } catch (WakeupException e) {
            // Retried on the next pass: the wakeup came from a completion.
        } catch (KafkaException e) {
            LOGGER.warn("commit failed for loop {}; retrying on the next pass: {}", options.name(), e.toString());
        }
    }

    private final class RebalanceListener implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            drainCompletions();
            Map<TopicPartition, OffsetAndMetadata> last = new HashMap<>();
            for (TopicPartition partition : partitions) {
                OffsetAndMetadata offset = offsets.forget(partition);
                if (offset != null) {
                    last.put(partition, offset);
                }
            }
            List<Buffered<K, V>> keep = new ArrayList<>();
            for (Buffered<K, V> b : buffer) {
                if (!partitions.contains(new TopicPartition(b.record().topic(), b.record().partition()))) {
                    keep.add(b);
                }
            }
            buffer.clear();
            buffer.addAll(keep);
            if (!last.isEmpty()) {
                try {
                    consumer.commitSync(last);
                } catch (KafkaException e) {
                    LOGGER.warn("commit on revocation failed for loop {}: {}", options.name(), e.toString());
                }
            }
            LOGGER.info("loop={} revoked={}", options.name(), partitions);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            assignmentReceived = true;
            LOGGER.info("loop={} assigned={}", options.name(), partitions);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            for (TopicPartition partition : partitions) {
                offsets.forget(partition);
            }
            buffer.removeIf(b -> partitions.contains(new TopicPartition(b.record().topic(), b.record().partition())));
        }
    }

    /** Stops the loop after committing what is complete, and waits up to 30 s for it. */
    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        if (!started) {
            consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
            retryTimer.shutdownNow();
            return;
        }
        try {
            if (!stopped.await(30, TimeUnit.SECONDS)) {
                LOGGER.warn("consumer loop {} did not stop within 30 s", options.name());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
