package io.batchagent.worker;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;
import java.util.function.IntSupplier;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
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
 *       taken when the handler is called and released when its stage completes. Within that ceiling, an
 *       {@link Options#limit()} may lower the bound while the loop runs (flow control): records are
 *       dispatched only while fewer than it are in processing, and a limit of 0 pauses every assigned
 *       partition until it rises again (the consumer keeps polling, so it stays in its group). Records
 *       already in processing are never interrupted by a lower limit. An {@link Options#admission()} gate may
 *       hold back the next record in dispatch order (admission control); it waits in the buffer, and so does
 *       everything after it, until the gate admits it on a later pass.
 *   <li>Only offsets below which every record is done are committed, so a crash repeats at most the
 *       records that were buffered or in flight (at-least-once). A record is done only when its stage
 *       completed normally: the loop never commits past a record whose stage failed.
 *   <li>A stage that completes exceptionally is handled again, up to {@link Options#handlerAttempts()}
 *       times with backoff (100 ms, then 200 ms, ...). If its last attempt fails too, the failure is
 *       passed to {@link Options#onHandlerFailure()} and the loop <em>stops</em>: it commits what is
 *       complete below that record and nothing past it, closes the consumer, and reports the cause in
 *       {@link #failure()}. A handler must therefore turn expected failures into data and let its stage
 *       fail only when the record's outcome could not be recorded at all.
 *   <li>Fetching of a topic's partitions stops (they are paused) while {@link Options#maxBuffered()}
 *       records of its rank wait for a slot (each topic of {@link Options#topicPriority()} is a rank;
 *       unlisted topics share the last one), and resumes when they drain; the consumer keeps polling,
 *       so it stays in its group.
 *   <li>Topic priority ({@link Options#topicPriority()}): records of a topic listed earlier are always
 *       dispatched before records of a topic listed later, and while records of an earlier topic wait
 *       (buffered, or known to be available on the broker from the consumer's lag) the partitions of
 *       later topics are paused. Among records of equal topic rank, those the {@link Options#priority()}
 *       comparator orders first go first, then fetch order.
 *   <li>Rebalances: on revocation the completed prefix of each revoked partition is committed, its
 *       buffered records are dropped, and records of it still in flight no longer count: their
 *       completion cannot mark done an offset that is fetched again after the partition comes back.
 *       Lost partitions are dropped without a commit.
 *   <li>Commits are never aborted by the loop's own wake-ups: completions wake a loop parked in
 *       {@code poll} (at most one {@link Consumer#wakeup()} per poll), never one that is committing.
 *   <li>{@link #close()} stops dispatching, waits up to {@link Options#drainTimeout()} for the records
 *       in flight to complete, commits what is complete, and closes the consumer. Records still in
 *       flight then are abandoned: not committed, so they are handled again after a restart.
 * </ul>
 *
 * <p>The handler runs on the poll thread and must not block: it starts work and returns a stage.
 * {@link #run()} owns the consumer; {@link #close()} and {@link #fail(Throwable)} may be called from any thread.
 */
public final class InFlightConsumer<K, V> implements Runnable, AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(InFlightConsumer.class);
    /** Wake-ups a commit absorbs before it gives up until the next pass; more than one pending is a rare race. */
    private static final int STALE_WAKEUPS = 3;

    /** Starts the processing of one record. */
    @FunctionalInterface
    public interface Handler<K, V> {
        CompletionStage<?> handle(ConsumerRecord<K, V> record);
    }

    /**
     * @param name for logs and thread names
     * @param maxInFlight records in processing at once, at least 1
     * @param maxBuffered fetched records of one rank waiting for a slot before fetching of that rank pauses, at least 1
     * @param pollTimeout longest wait in poll; completions wake the loop earlier
     * @param commitInterval how often completed offsets are committed
     * @param priority dispatch order among buffered records of the same topic rank, or null for fetch order
     * @param onHandlerFailure called for a stage that still completed exceptionally on its last attempt,
     *     just before the loop stops
     * @param handlerAttempts how many times a record whose stage completes exceptionally is handled
     *     (the retries wait 100 ms, then 200 ms, ...); its offset stays uncommitted meanwhile
     * @param topicPriority topics in dispatch priority order, first drained first; topics not listed come
     *     after the listed ones, in one rank. Empty for no topic priority.
     * @param drainTimeout how long {@link #close()} waits for records in flight to complete before abandoning them
     * @param rebalanceObserver told of every assignment change after the loop has handled it, or null
     * @param limit the in-flight bound now, read before every dispatch and capped by {@code maxInFlight};
     *     0 pauses fetching. Called on the poll thread; must be cheap and must not block. Null for
     *     {@code maxInFlight} always.
     * @param admission asked, right before a record is dispatched, whether it may start now (a true answer means
     *     it starts). A record refused stays buffered, in its place, and nothing buffered after it is dispatched
     *     either; the loop asks again on its next pass (after a completion, or a poll). Called on the poll thread;
     *     must be cheap and must not block. Null admits every record.
     */
    public record Options<K, V>(
            String name,
            int maxInFlight,
            int maxBuffered,
            Duration pollTimeout,
            Duration commitInterval,
            Comparator<ConsumerRecord<K, V>> priority,
            BiConsumer<ConsumerRecord<K, V>, Throwable> onHandlerFailure,
            int handlerAttempts,
            List<String> topicPriority,
            Duration drainTimeout,
            ConsumerRebalanceListener rebalanceObserver,
            IntSupplier limit,
            java.util.function.Predicate<ConsumerRecord<K, V>> admission) {

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
            onHandlerFailure = onHandlerFailure == null ? (r, e) -> {} : onHandlerFailure;
            if (handlerAttempts < 1) {
                throw new IllegalArgumentException("handlerAttempts must be at least 1, got " + handlerAttempts);
            }
            topicPriority = topicPriority == null ? List.of() : List.copyOf(topicPriority);
            if (new HashSet<>(topicPriority).size() != topicPriority.size()) {
                throw new IllegalArgumentException("topicPriority names a topic twice: " + topicPriority);
            }
            drainTimeout = drainTimeout == null ? Duration.ZERO : drainTimeout;
            if (drainTimeout.isNegative()) {
                throw new IllegalArgumentException("drainTimeout must not be negative, got " + drainTimeout);
            }
            int ceiling = maxInFlight;
            limit = limit == null ? () -> ceiling : limit;
            admission = admission == null ? record -> true : admission;
        }

        /**
         * Defaults: buffer twice the in-flight bound (at least 16), fetch order, no topic priority, 100 ms
         * poll and commit, 3 handler attempts, no drain on close.
         */
        public static <K, V> Options<K, V> of(String name, int maxInFlight) {
            return new Options<>(
                    name,
                    maxInFlight,
                    Math.max(16, 2 * maxInFlight),
                    null,
                    null,
                    null,
                    null,
                    3,
                    null,
                    null,
                    null,
                    null,
                    null);
        }

        public Options<K, V> withPriority(Comparator<ConsumerRecord<K, V>> order) {
            return new Options<>(
                    name,
                    maxInFlight,
                    maxBuffered,
                    pollTimeout,
                    commitInterval,
                    order,
                    onHandlerFailure,
                    handlerAttempts,
                    topicPriority,
                    drainTimeout,
                    rebalanceObserver,
                    limit,
                    admission);
        }

        public Options<K, V> withMaxBuffered(int buffered) {
            return new Options<>(
                    name,
                    maxInFlight,
                    buffered,
                    pollTimeout,
                    commitInterval,
                    priority,
                    onHandlerFailure,
                    handlerAttempts,
                    topicPriority,
                    drainTimeout,
                    rebalanceObserver,
                    limit,
                    admission);
        }

        public Options<K, V> withCommitInterval(Duration interval) {
            return new Options<>(
                    name,
                    maxInFlight,
                    maxBuffered,
                    pollTimeout,
                    interval,
                    priority,
                    onHandlerFailure,
                    handlerAttempts,
                    topicPriority,
                    drainTimeout,
                    rebalanceObserver,
                    limit,
                    admission);
        }

        public Options<K, V> withHandlerAttempts(int attempts) {
            return new Options<>(
                    name,
                    maxInFlight,
                    maxBuffered,
                    pollTimeout,
                    commitInterval,
                    priority,
                    onHandlerFailure,
                    attempts,
                    topicPriority,
                    drainTimeout,
                    rebalanceObserver,
                    limit,
                    admission);
        }

        public Options<K, V> withOnHandlerFailure(BiConsumer<ConsumerRecord<K, V>, Throwable> onFailure) {
            return new Options<>(
                    name,
                    maxInFlight,
                    maxBuffered,
                    pollTimeout,
                    commitInterval,
                    priority,
                    onFailure,
                    handlerAttempts,
                    topicPriority,
                    drainTimeout,
                    rebalanceObserver,
                    limit,
                    admission);
        }

        public Options<K, V> withTopicPriority(List<String> topicsFirstToLast) {
            return new Options<>(
                    name,
                    maxInFlight,
                    maxBuffered,
                    pollTimeout,
                    commitInterval,
                    priority,
                    onHandlerFailure,
                    handlerAttempts,
                    topicsFirstToLast,
                    drainTimeout,
                    rebalanceObserver,
                    limit,
                    admission);
        }

        public Options<K, V> withDrainTimeout(Duration timeout) {
            return new Options<>(
                    name,
                    maxInFlight,
                    maxBuffered,
                    pollTimeout,
                    commitInterval,
                    priority,
                    onHandlerFailure,
                    handlerAttempts,
                    topicPriority,
                    timeout,
                    rebalanceObserver,
                    limit,
                    admission);
        }

        public Options<K, V> withRebalanceObserver(ConsumerRebalanceListener observer) {
            return new Options<>(
                    name,
                    maxInFlight,
                    maxBuffered,
                    pollTimeout,
                    commitInterval,
                    priority,
                    onHandlerFailure,
                    handlerAttempts,
                    topicPriority,
                    drainTimeout,
                    observer,
                    limit,
                    admission);
        }

        /** Bounds the records in processing by {@code bound} as well (see {@link #limit()}). */
        public Options<K, V> withLimit(IntSupplier bound) {
            return new Options<>(
                    name,
                    maxInFlight,
                    maxBuffered,
                    pollTimeout,
                    commitInterval,
                    priority,
                    onHandlerFailure,
                    handlerAttempts,
                    topicPriority,
                    drainTimeout,
                    rebalanceObserver,
                    bound,
                    admission);
        }

        /** Asks {@code gate}, before each dispatch, whether a record may start now (see {@link #admission()}). */
        public Options<K, V> withAdmission(java.util.function.Predicate<ConsumerRecord<K, V>> gate) {
            return new Options<>(
                    name,
                    maxInFlight,
                    maxBuffered,
                    pollTimeout,
                    commitInterval,
                    priority,
                    onHandlerFailure,
                    handlerAttempts,
                    topicPriority,
                    drainTimeout,
                    rebalanceObserver,
                    limit,
                    gate);
        }

        /** The in-flight bound now: {@link #limit()} within [0, maxInFlight]. */
        int currentLimit() {
            return Math.max(0, Math.min(maxInFlight, limit.getAsInt()));
        }

        /** Rank of {@code topic}: its index in {@link #topicPriority()}, or the list's size when not listed. */
        int rank(String topic) {
            int index = topicPriority.indexOf(topic);
            return index < 0 ? topicPriority.size() : index;
        }
    }

    private record Buffered<K, V>(ConsumerRecord<K, V> record, long epoch, int rank, long sequence) {}

    private record Completion<K, V>(ConsumerRecord<K, V> record, long epoch, Throwable error) {}

    private record Retry<K, V>(ConsumerRecord<K, V> record, long epoch) {}

    private record Position(String topic, int partition, long offset) {}

    private final Consumer<K, V> consumer;
    private final Collection<String> topics;
    private final Handler<K, V> handler;
    private final Options<K, V> options;
    private final int ranks;
    private final PriorityQueue<Buffered<K, V>> buffer;
    private final int[] bufferedByRank;
    private final OffsetTracker offsets = new OffsetTracker();
    private final Map<Position, Integer> attempts = new HashMap<>();
    private final ConcurrentLinkedQueue<Completion<K, V>> completions = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Retry<K, V>> retries = new ConcurrentLinkedQueue<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger peakInFlight = new AtomicInteger();
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong commits = new AtomicLong();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final Waker waker = new Waker();
    private volatile boolean running = true;
    private volatile boolean started;
    private volatile boolean assignmentReceived;
    // started is set by run(); close() before run() closes the consumer itself.
    private long sequence;
    private long lastCommitNanos = System.nanoTime();

    /**
     * @param consumer a consumer with {@code enable.auto.commit=false}; this loop owns and closes it.
     *     See {@link GroupSettings} for the group settings workers use.
     */
    public InFlightConsumer(
            Consumer<K, V> consumer, Collection<String> topics, Handler<K, V> handler, Options<K, V> options) {
        this.consumer = consumer;
        this.topics = List.copyOf(topics);
        this.handler = handler;
        this.options = options;
        this.ranks = options.topicPriority().size() + 1;
        this.bufferedByRank = new int[ranks];
        Comparator<Buffered<K, V>> byRank = Comparator.comparingInt(Buffered::rank);
        if (options.priority() != null) {
            byRank = byRank.thenComparing(Buffered::record, options.priority());
        }
        this.buffer = new PriorityQueue<>(byRank.thenComparingLong(Buffered::sequence));
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
        long drainDeadline = Long.MAX_VALUE;
        try {
            consumer.subscribe(topics, new RebalanceListener());
            while (true) {
                drainCompletions();
                drainRetries();
                if (!running) {
                    if (drainDeadline == Long.MAX_VALUE) {
                        drainDeadline =
                                System.nanoTime() + options.drainTimeout().toNanos();
                    }
                    if (failure.get() != null || inFlight.get() == 0 || System.nanoTime() - drainDeadline >= 0) {
                        break;
                    }
                } else {
                    dispatch();
                }
                updatePause();
                commitIfDue(false);
                poll();
            }
            drainCompletions();
            commitIfDue(true);
            if (inFlight.get() > 0) {
                LOGGER.info(
                        "loop={} stopped with {} records in flight; they are not committed and will be handled again",
                        options.name(),
                        inFlight.get());
            }
        } catch (RuntimeException e) {
            failure.compareAndSet(null, e);
            LOGGER.error("consumer loop {} stopped on an unexpected error", options.name(), e);
            throw e;
        } finally {
            running = false;
            try {
                consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
            } catch (RuntimeException e) {
                LOGGER.warn("consumer loop {} did not close cleanly", options.name(), e);
            }
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

    /** Records whose processing completed normally. */
    public long completed() {
        return completed.get();
    }

    /** Offset commits that succeeded (periodic, on revocation and on close). */
    public long commits() {
        return commits.get();
    }

    /** Whether the loop is running: started, and neither closed nor stopped by a failure. */
    public boolean isRunning() {
        return started && running && stopped.getCount() > 0;
    }

    /** Why the loop stopped, when it stopped on a failure (a stage's last attempt, {@link #fail}, or an error of its own). */
    public Optional<Throwable> failure() {
        return Optional.ofNullable(failure.get());
    }

    /**
     * Stops the loop because of {@code cause}, from any thread: it dispatches nothing more, does not
     * wait for records in flight, commits what is complete and closes the consumer. {@link #failure()}
     * reports the first cause given. Returns at once.
     */
    public void fail(Throwable cause) {
        if (failure.compareAndSet(null, Objects.requireNonNull(cause, "cause"))) {
            LOGGER.error("consumer loop {} stopping: {}", options.name(), cause.toString());
        }
        running = false;
        waker.signal();
    }

    /**
     * Whether the group has given this consumer its first assignment (possibly of no partitions) and the
     * loop still runs: what a readiness probe asks of a worker.
     */
    public boolean assignmentReceived() {
        return assignmentReceived && running && stopped.getCount() > 0;
    }

    private void poll() {
        Duration timeout = waker.beforePoll(options.pollTimeout());
        ConsumerRecords<K, V> records;
        boolean woken = false;
        try {
            records = consumer.poll(timeout);
        } catch (WakeupException e) {
            // A completion or close() woke us: loop round to handle it.
            records = ConsumerRecords.empty();
            woken = true;
        }
        if (waker.afterPoll() && !woken) {
            // The wake-up came as poll was returning and is still pending: consume it now, with a poll
            // that does not wait, rather than let it abort the next commit.
            try {
                buffer(records);
                records = consumer.poll(Duration.ZERO);
            } catch (WakeupException e) {
                return;
            }
        }
        buffer(records);
    }

    private void buffer(ConsumerRecords<K, V> records) {
        for (ConsumerRecord<K, V> record : records) {
            TopicPartition partition = new TopicPartition(record.topic(), record.partition());
            long epoch = offsets.fetched(partition, record.offset());
            int rank = options.rank(record.topic());
            buffer.add(new Buffered<>(record, epoch, rank, sequence++));
            bufferedByRank[rank]++;
        }
    }

    private void dispatch() {
        int bound = options.currentLimit();
        while (inFlight.get() < bound && !buffer.isEmpty()) {
            if (!options.admission().test(buffer.peek().record())) {
                return; // asked again on the next pass
            }
            Buffered<K, V> next = buffer.poll();
            bufferedByRank[next.rank()]--;
            start(next.record(), next.epoch());
        }
    }

    private void start(ConsumerRecord<K, V> record, long epoch) {
        int now = inFlight.incrementAndGet();
        peakInFlight.accumulateAndGet(now, Math::max);
        CompletionStage<?> stage;
        try {
            stage = handler.handle(record);
        } catch (RuntimeException e) {
            stage = CompletableFuture.failedFuture(e);
        }
        stage.whenComplete((ignored, error) -> {
            inFlight.decrementAndGet();
            completions.add(new Completion<>(record, epoch, error));
            waker.signal();
        });
    }

    /** Applies completions on the poll thread: marks offsets done, or schedules a retry, or stops the loop. */
    private void drainCompletions() {
        Completion<K, V> completion;
        while ((completion = completions.poll()) != null) {
            ConsumerRecord<K, V> record = completion.record();
            TopicPartition partition = new TopicPartition(record.topic(), record.partition());
            if (completion.error() == null) {
                completed.incrementAndGet();
                attempts.remove(attemptKey(record));
                if (!offsets.done(partition, record.offset(), completion.epoch())) {
                    LOGGER.debug(
                            "completion of a revoked record ignored: loop={} topic={} partition={} offset={}",
                            options.name(),
                            record.topic(),
                            record.partition(),
                            record.offset());
                }
            } else {
                Throwable error = completion.error();
                while (error instanceof java.util.concurrent.CompletionException && error.getCause() != null) {
                    error = error.getCause();
                }
                onStageFailure(record, partition, completion.epoch(), error);
            }
        }
    }

    private void onStageFailure(ConsumerRecord<K, V> record, TopicPartition partition, long epoch, Throwable error) {
        if (!offsets.tracks(partition, epoch)) {
            // Another member owns the partition now and handles the record again.
            LOGGER.warn(
                    "stage of a revoked record failed: loop={} topic={} partition={} offset={} error={}",
                    options.name(),
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    error.toString());
            attempts.remove(attemptKey(record));
            return;
        }
        int attempt = attempts.merge(attemptKey(record), 1, Integer::sum);
        if (attempt < options.handlerAttempts() && running) {
            long backoffMs = 100L << (attempt - 1);
            LOGGER.warn(
                    "handler failed, retrying in {} ms: loop={} topic={} partition={} offset={} attempt={} error={}",
                    backoffMs,
                    options.name(),
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    attempt,
                    error.toString());
            CompletableFuture.delayedExecutor(backoffMs, TimeUnit.MILLISECONDS).execute(() -> {
                retries.add(new Retry<>(record, epoch));
                waker.signal();
            });
            return;
        }
        LOGGER.error(
                "handler failed on its last attempt; the loop stops and commits nothing past this record: "
                        + "loop={} topic={} partition={} offset={} attempts={}",
                options.name(),
                record.topic(),
                record.partition(),
                record.offset(),
                attempt,
                error);
        try {
            options.onHandlerFailure().accept(record, error);
        } catch (RuntimeException e) {
            LOGGER.error(
                    "onHandlerFailure failed: topic={} partition={} offset={}",
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    e);
        }
        fail(error);
    }

    /** Puts records due for another attempt back in the buffer (unless their partition was revoked since). */
    private void drainRetries() {
        Retry<K, V> retry;
        while ((retry = retries.poll()) != null) {
            ConsumerRecord<K, V> record = retry.record();
            if (offsets.tracks(new TopicPartition(record.topic(), record.partition()), retry.epoch())) {
                int rank = options.rank(record.topic());
                buffer.add(new Buffered<>(record, retry.epoch(), rank, sequence++));
                bufferedByRank[rank]++;
            } else {
                attempts.remove(attemptKey(record));
            }
        }
    }

    private static Position attemptKey(ConsumerRecord<?, ?> record) {
        return new Position(record.topic(), record.partition(), record.offset());
    }

    /**
     * Pauses the partitions that must not be fetched now, resumes the others: all while stopping or while
     * the limit is 0; a topic whose rank has {@code maxBuffered} records waiting; a topic while records of an earlier
     * rank wait, buffered or on the broker.
     */
    private void updatePause() {
        Set<TopicPartition> assignment = consumer.assignment();
        if (assignment.isEmpty()) {
            return;
        }
        boolean held = options.currentLimit() == 0;
        int firstWaitingRank = ranks;
        for (int rank = 0; rank < ranks; rank++) {
            if (bufferedByRank[rank] > 0) {
                firstWaitingRank = rank;
                break;
            }
        }
        // Records of the last rank on the broker hold nothing back: only earlier ranks' lag matters.
        for (TopicPartition partition : assignment) {
            int rank = options.rank(partition.topic());
            if (rank < Math.min(firstWaitingRank, ranks - 1) && hasLag(partition)) {
                firstWaitingRank = rank;
            }
        }
        Set<TopicPartition> pause = new HashSet<>();
        Set<TopicPartition> resume = new HashSet<>();
        Set<TopicPartition> paused = consumer.paused();
        for (TopicPartition partition : assignment) {
            int rank = options.rank(partition.topic());
            boolean shouldPause =
                    !running || held || bufferedByRank[rank] >= options.maxBuffered() || rank > firstWaitingRank;
            if (shouldPause && !paused.contains(partition)) {
                pause.add(partition);
            } else if (!shouldPause && paused.contains(partition)) {
                resume.add(partition);
            }
        }
        if (!pause.isEmpty()) {
            consumer.pause(pause);
        }
        if (!resume.isEmpty()) {
            consumer.resume(resume);
        }
    }

    private boolean hasLag(TopicPartition partition) {
        OptionalLong lag = consumer.currentLag(partition);
        return lag.isPresent() && lag.getAsLong() > 0;
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
            commitSync(ready);
            offsets.markCommitted(ready);
        } catch (KafkaException e) {
            LOGGER.warn("commit failed for loop {}; retrying on the next pass: {}", options.name(), e.toString());
        }
    }

    /**
     * Commits {@code offsets}. A wake-up issued just as the loop left poll may still be pending in the
     * consumer and abort the commit; no new one is issued while the loop is not parked, so the commit
     * is simply repeated (a wake-up is one-shot).
     */
    private void commitSync(Map<TopicPartition, OffsetAndMetadata> ready) {
        for (int attempt = 1; ; attempt++) {
            try {
                consumer.commitSync(ready);
                commits.incrementAndGet();
                return;
            } catch (WakeupException e) {
                if (attempt == STALE_WAKEUPS) {
                    throw e;
                }
            }
        }
    }

    private final class RebalanceListener implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            waker.enterCallback();
            try {
                drainCompletions();
                Map<TopicPartition, OffsetAndMetadata> last = new HashMap<>();
                for (TopicPartition partition : partitions) {
                    OffsetAndMetadata offset = offsets.forget(partition);
                    if (offset != null) {
                        last.put(partition, offset);
                    }
                }
                dropBuffered(partitions);
                if (!last.isEmpty()) {
                    try {
                        commitSync(last);
                    } catch (KafkaException e) {
                        LOGGER.warn("commit on revocation failed for loop {}: {}", options.name(), e.toString());
                    }
                }
                LOGGER.info("loop={} revoked={} committed={}", options.name(), partitions, last);
                observe(o -> o.onPartitionsRevoked(partitions));
            } finally {
                waker.exitCallback();
            }
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            waker.enterCallback();
            try {
                for (TopicPartition partition : partitions) {
                    offsets.assigned(partition);
                }
                assignmentReceived = true;
                LOGGER.info("loop={} assigned={}", options.name(), partitions);
                observe(o -> o.onPartitionsAssigned(partitions));
            } finally {
                waker.exitCallback();
            }
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            waker.enterCallback();
            try {
                for (TopicPartition partition : partitions) {
                    offsets.forget(partition);
                }
                dropBuffered(partitions);
                LOGGER.warn("loop={} lost={}", options.name(), partitions);
                observe(o -> o.onPartitionsLost(partitions));
            } finally {
                waker.exitCallback();
            }
        }

        private void dropBuffered(Collection<TopicPartition> partitions) {
            List<Buffered<K, V>> keep = new ArrayList<>();
            for (Buffered<K, V> b : buffer) {
                if (partitions.contains(
                        new TopicPartition(b.record().topic(), b.record().partition()))) {
                    bufferedByRank[b.rank()]--;
                } else {
                    keep.add(b);
                }
            }
            buffer.clear();
            buffer.addAll(keep);
        }

        private void observe(java.util.function.Consumer<ConsumerRebalanceListener> call) {
            ConsumerRebalanceListener observer = options.rebalanceObserver();
            if (observer == null) {
                return;
            }
            try {
                call.accept(observer);
            } catch (RuntimeException e) {
                LOGGER.warn("rebalance observer of loop {} failed", options.name(), e);
            }
        }
    }

    /**
     * How completions wake the poll thread without ever aborting a commit: {@link Consumer#wakeup()} is
     * called only while the loop is parked in poll (outside rebalance callbacks), at most once per poll;
     * otherwise the request is remembered and the next poll does not wait. A wake-up issued while poll
     * was already returning is still pending in the consumer; the loop then consumes it at once with a
     * non-blocking poll ({@link #poll()}), before any commit can meet it.
     */
    private final class Waker {
        // Set and cleared under this lock, except by rebalance callbacks, which run inside the consumer's
        // poll and must not wait for a thread that is calling into the consumer.
        private final AtomicBoolean parked = new AtomicBoolean();
        private volatile boolean requested; // something happened that the loop has not looked at yet
        private volatile boolean inPoll; // written by the poll thread only; callbacks run on it too
        private boolean issued; // a wake-up was issued during the current poll

        void signal() {
            synchronized (this) {
                requested = true;
                // Issued under the lock, so that afterPoll() sees every wake-up of the poll it ends.
                if (parked.compareAndSet(true, false)) {
                    issued = true;
                    consumer.wakeup();
                }
            }
        }

        synchronized Duration beforePoll(Duration timeout) {
            inPoll = true;
            if (requested) {
                requested = false;
                return Duration.ZERO;
            }
            parked.set(true);
            return timeout;
        }

        /** Ends a poll; returns whether a wake-up was issued during it. */
        synchronized boolean afterPoll() {
            inPoll = false;
            parked.set(false);
            boolean wasIssued = issued;
            issued = false;
            return wasIssued;
        }

        void enterCallback() {
            parked.set(false);
        }

        /** Back in poll after a callback: park again, unless something is waiting (then poll ends at its timeout). */
        void exitCallback() {
            if (inPoll && !requested) {
                parked.set(true);
            }
        }
    }

    /** Stops the loop (see the class contract on draining) and waits up to the drain timeout plus 30 s for it. */
    @Override
    public void close() {
        running = false;
        waker.signal();
        if (!started) {
            consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
            stopped.countDown();
            return;
        }
        try {
            if (!stopped.await(options.drainTimeout().toMillis() + 30_000, TimeUnit.MILLISECONDS)) {
                LOGGER.warn("consumer loop {} did not stop in time", options.name());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
