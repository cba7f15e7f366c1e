package io.batchagent.inference;

import io.batchagent.events.BatchSpec;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An in-memory mirror of the compacted batch-specs topic, read by a background thread with its own
 * consumer: no group, every partition assigned, read from the beginning and followed for as long as
 * the cache is open. A tombstone removes a batch. New partitions are picked up within a minute.
 *
 * <p>{@link #get} answers at once for a known batch; otherwise it waits for the spec to arrive, up to
 * the configured timeout, and then fails with a {@link TimeoutException} naming the batch and topic.
 * Undecodable specs are logged with topic/partition/offset and skipped.
 *
 * <p>If the reading thread fails (an error the consumer cannot retry), the cache stops for good: callers
 * waiting for a spec, and every later {@link #get} of a batch not known, fail with a
 * {@link BatchSpecLookup.UnavailableException} (never a timeout: the batch may well exist), and
 * {@link #stopped()} completes exceptionally with the cause, so that its owner can stop too. Retriable
 * consumer errors are logged and read past.
 *
 * <p>Thread-safe. {@link #start()} once; {@link #close()} stops the thread and fails waiting callers
 * with an {@link BatchSpecLookup.UnavailableException}.
 */
public final class BatchSpecCache implements BatchSpecLookup, AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(BatchSpecCache.class);
    private static final Duration POLL_TIMEOUT = Duration.ofMillis(200);
    private static final Duration METADATA_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration PARTITION_RECHECK = Duration.ofMinutes(1);
    private static final Duration NO_TOPIC_RETRY = Duration.ofSeconds(1);

    private final Consumer<String, byte[]> consumer;
    private final String topic;
    private final Deserializer<BatchSpec> deserializer;
    private final Duration waitTimeout;
    private final Map<String, BatchSpec> specs = new ConcurrentHashMap<>();
    private final Map<String, List<CompletableFuture<BatchSpec>>> waiters = new ConcurrentHashMap<>();
    private final CountDownLatch stopping = new CountDownLatch(1);
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final CompletableFuture<Void> termination = new CompletableFuture<>();
    private final Set<TopicPartition> assigned = new HashSet<>();
    private volatile boolean running = true;
    private volatile Thread thread;
    private long lastPartitionCheckNanos;

    /**
     * @param kafkaConfig client settings (bootstrap.servers, security...); group and offset settings are
     *     overridden, since this consumer has no group
     * @param waitTimeout how long {@link #get} waits for an unknown batch
     */
    public BatchSpecCache(Map<String, Object> kafkaConfig, Topics topics, Duration waitTimeout) {
        this(
                new KafkaConsumer<>(consumerConfig(kafkaConfig), new StringDeserializer(), new ByteArrayDeserializer()),
                topics,
                waitTimeout);
    }

    /** As above, waiting {@link InferenceWorkerConfig#DEFAULT_SPEC_WAIT_TIMEOUT} (30 s) for unknown batches. */
    public BatchSpecCache(Map<String, Object> kafkaConfig, Topics topics) {
        this(kafkaConfig, topics, InferenceWorkerConfig.DEFAULT_SPEC_WAIT_TIMEOUT);
    }

    /** For tests: the cache owns and closes {@code consumer}. */
    BatchSpecCache(Consumer<String, byte[]> consumer, Topics topics, Duration waitTimeout) {
        if (waitTimeout.isNegative() || waitTimeout.isZero()) {
            throw new IllegalArgumentException("waitTimeout must be positive, got " + waitTimeout);
        }
        this.consumer = consumer;
        this.topic = topics.batchSpecs().name();
        this.deserializer = topics.batchSpecs().valueSerde().deserializer();
        this.waitTimeout = waitTimeout;
    }

    private static Map<String, Object> consumerConfig(Map<String, Object> kafkaConfig) {
        Map<String, Object> config = new HashMap<>(kafkaConfig);
        config.remove(ConsumerConfig.GROUP_ID_CONFIG);
        config.remove(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG);
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        config.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        config.putIfAbsent(ConsumerConfig.CLIENT_ID_CONFIG, "batchagent-batch-spec-cache");
        return config;
    }

    /** Starts the reading thread. */
    public synchronized void start() {
        if (thread != null) {
            throw new IllegalStateException("already started");
        }
        thread = new Thread(this::run, "batchagent-batch-spec-cache");
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * The spec of {@code batchId}: completed at once when known, else when it arrives, else exceptionally
     * with a {@link TimeoutException} after the wait timeout.
     */
    @Override
    public CompletableFuture<BatchSpec> get(String batchId) {
        BatchSpec known = specs.get(batchId);
        if (known != null) {
            return CompletableFuture.completedFuture(known);
        }
        CompletableFuture<BatchSpec> future = new CompletableFuture<>();
        waiters.compute(batchId, (id, list) -> {
            List<CompletableFuture<BatchSpec>> waiting = list == null ? new ArrayList<>() : list;
            waiting.add(future);
            return waiting;
        });
        // The spec may have arrived between the first look and the registration.
        BatchSpec arrived = specs.get(batchId);
        if (arrived != null) {
            future.complete(arrived);
        }
        if (!running) {
            future.completeExceptionally(new UnavailableException(
                    "the batch spec cache is stopped"
                            + termination
                                    .handle((v, e) -> e == null ? "" : ": " + e.getMessage())
                                    .getNow(""),
                    null));
        }
        CompletableFuture.delayedExecutor(waitTimeout.toMillis(), TimeUnit.MILLISECONDS)
                .execute(() -> future.completeExceptionally(new TimeoutException("no BatchSpec for batch '" + batchId
                        + "' arrived on topic '" + topic + "' within " + waitTimeout.toMillis() + " ms")));
        future.whenComplete((spec, error) -> waiters.computeIfPresent(batchId, (id, list) -> {
            list.remove(future);
            return list.isEmpty() ? null : list;
        }));
        return future;
    }

    /** The spec of {@code batchId} if it is known now. */
    @Override
    public Optional<BatchSpec> current(String batchId) {
        return Optional.ofNullable(specs.get(batchId));
    }

    /** Batches known now. */
    public int size() {
        return specs.size();
    }

    /**
     * Completes when the reading thread ends: normally after {@link #close()}, exceptionally with the
     * cause when it failed.
     */
    public CompletableFuture<Void> stopped() {
        return termination.copy();
    }

    private void run() {
        Throwable failure = null;
        try {
            while (running) {
                refreshAssignment();
                if (assigned.isEmpty()) {
                    // The topic does not exist yet; look again soon, or stop when closed.
                    stopping.await(NO_TOPIC_RETRY.toMillis(), TimeUnit.MILLISECONDS);
                    continue;
                }
                try {
                    for (ConsumerRecord<String, byte[]> record : consumer.poll(POLL_TIMEOUT)) {
                        apply(record);
                    }
                } catch (RetriableException e) {
                    LOGGER.warn("batch spec cache read failed, retrying: topic={} cause={}", topic, e.toString());
                    stopping.await(NO_TOPIC_RETRY.toMillis(), TimeUnit.MILLISECONDS);
                }
            }
        } catch (WakeupException e) {
            // close() woke the consumer.
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            failure = e;
            LOGGER.error(
                    "batch spec cache stopped on an unexpected error; batches not yet known cannot be served: topic={}",
                    topic,
                    e);
        } finally {
            running = false;
            failWaiters(
                    failure == null ? "the batch spec cache closed" : "the batch spec cache stopped: " + failure,
                    failure);
            try {
                consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
            } catch (RuntimeException e) {
                LOGGER.warn("batch spec cache consumer did not close cleanly: topic={}", topic, e);
            }
            if (failure == null) {
                termination.complete(null);
            } else {
                termination.completeExceptionally(failure);
            }
            stopped.countDown();
        }
    }

    private void refreshAssignment() {
        long now = System.nanoTime();
        if (!assigned.isEmpty() && now - lastPartitionCheckNanos < PARTITION_RECHECK.toNanos()) {
            return;
        }
        lastPartitionCheckNanos = now;
        List<PartitionInfo> partitions;
        try {
            partitions = consumer.partitionsFor(topic, METADATA_TIMEOUT);
        } catch (WakeupException e) {
            throw e;
        } catch (KafkaException e) {
            LOGGER.warn("cannot list partitions: topic={} cause={}", topic, e.toString());
            return;
        }
        Set<TopicPartition> found = new HashSet<>();
        for (PartitionInfo info : partitions == null ? List.<PartitionInfo>of() : partitions) {
            found.add(new TopicPartition(info.topic(), info.partition()));
        }
        if (found.isEmpty() || assigned.containsAll(found)) {
            return;
        }
        Set<TopicPartition> added = new HashSet<>(found);
        added.removeAll(assigned);
        assigned.addAll(found);
        consumer.assign(assigned);
        consumer.seekToBeginning(added);
        LOGGER.info("batch spec cache reading: topic={} partitions={}", topic, assigned.size());
    }

    private void apply(ConsumerRecord<String, byte[]> record) {
        if (record.value() == null) {
            if (record.key() != null && specs.remove(record.key()) != null) {
                LOGGER.info(
                        "batch spec removed: batchId={} topic={} partition={} offset={}",
                        record.key(),
                        record.topic(),
                        record.partition(),
                        record.offset());
            }
            return;
        }
        BatchSpec spec;
        try {
            spec = deserializer.deserialize(record.topic(), record.headers(), record.value());
        } catch (RuntimeException e) {
            LOGGER.warn(
                    "skipping an undecodable batch spec: topic={} partition={} offset={} cause={}",
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    e.toString());
            return;
        }
        String batchId = spec.getBatchId();
        specs.put(batchId, spec);
        LOGGER.debug(
                "batch spec known: batchId={} model={} tools={}",
                batchId,
                spec.getModel(),
                spec.getTools().size());
        List<CompletableFuture<BatchSpec>> waiting = waiters.remove(batchId);
        if (waiting != null) {
            for (CompletableFuture<BatchSpec> future : List.copyOf(waiting)) {
                future.complete(spec);
            }
        }
    }

    private void failWaiters(String why, Throwable cause) {
        for (String batchId : List.copyOf(waiters.keySet())) {
            List<CompletableFuture<BatchSpec>> waiting = waiters.remove(batchId);
            if (waiting != null) {
                for (CompletableFuture<BatchSpec> future : List.copyOf(waiting)) {
                    future.completeExceptionally(
                            new UnavailableException(why + " before batch '" + batchId + "' was known", cause));
                }
            }
        }
    }

    /** Stops the reading thread (waiting up to 10 s) and fails callers still waiting. */
    @Override
    public void close() {
        running = false;
        stopping.countDown();
        Thread reader = thread;
        if (reader == null) {
            consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
            failWaiters("the batch spec cache closed", null);
            termination.complete(null);
            return;
        }
        consumer.wakeup();
        try {
            if (!stopped.await(10, TimeUnit.SECONDS)) {
                LOGGER.warn("batch spec cache did not stop within 10 s: topic={}", topic);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
