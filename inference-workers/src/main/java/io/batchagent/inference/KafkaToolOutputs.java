package io.batchagent.inference;

import io.batchagent.events.OutputRef;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolStatus;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetOutOfRangeException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads referenced tool outputs from their tool-results records by offset, with one consumer (no group,
 * read_committed) on a thread of its own, and keeps the most recently read outputs in a cache bounded in
 * characters. The records are immutable, so a cached output is never stale; a miss (a new output, or one
 * evicted) costs one fetch. Concurrent reads of one record share one fetch; all reads waiting at once are
 * served by one pass over their partitions.
 *
 * <p>A record that is gone (retention deleted it: the offset is out of range), is not a committed OK
 * result, or cannot be found within {@link #READ_TIMEOUT} fails its reads with an
 * {@link ToolOutputs.UnreadableOutputException}. Thread-safe.
 */
final class KafkaToolOutputs implements ToolOutputs {

    private static final Logger LOGGER = LoggerFactory.getLogger(KafkaToolOutputs.class);
    /** How long one pass may look for its records before failing the reads it did not find. */
    static final Duration READ_TIMEOUT = Duration.ofSeconds(30);
    /** Default cache size in characters (about twice that in heap). */
    static final long DEFAULT_CACHE_CHARS = 32L * 1024 * 1024;
    /** Past this many records ahead of the position, seeking is cheaper than reading through. */
    private static final long SEEK_GAP = 64;

    private final Consumer<byte[], byte[]> consumer;
    private final Deserializer<ToolResult> decoder;
    private final long cacheChars;
    private final Map<OutputRef, String> cache = new LinkedHashMap<>(256, 0.75f, true);
    private long cachedChars;
    private final Map<OutputRef, CompletableFuture<String>> reading = new ConcurrentHashMap<>();
    private final BlockingQueue<OutputRef> queue = new LinkedBlockingQueue<>();
    private final Thread thread;
    private final java.util.Set<TopicPartition> assigned = new java.util.HashSet<>();
    private volatile boolean closed;
    private final AtomicLong fetched = new AtomicLong();
    private final AtomicLong hits = new AtomicLong();

    KafkaToolOutputs(Map<String, Object> kafkaConfig, Deserializer<ToolResult> decoder, long cacheChars) {
        this(
                new KafkaConsumer<>(
                        consumerConfig(kafkaConfig), new ByteArrayDeserializer(), new ByteArrayDeserializer()),
                decoder,
                cacheChars);
    }

    KafkaToolOutputs(Consumer<byte[], byte[]> consumer, Deserializer<ToolResult> decoder, long cacheChars) {
        this.consumer = consumer;
        this.decoder = decoder;
        this.cacheChars = cacheChars;
        this.thread = new Thread(this::run, "batchagent-tool-output-reader");
        this.thread.setDaemon(true);
        this.thread.start();
    }

    private static Map<String, Object> consumerConfig(Map<String, Object> kafkaConfig) {
        Map<String, Object> config = new HashMap<>(kafkaConfig);
        config.remove(ConsumerConfig.GROUP_ID_CONFIG);
        config.remove(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG);
        config.remove(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG);
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        // An offset that retention deleted must fail its reads, not silently read another record.
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
        config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 200);
        config.putIfAbsent(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10);
        config.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        config.put(ConsumerConfig.CLIENT_ID_CONFIG, "batchagent-tool-output-reader-" + System.identityHashCode(config));
        return config;
    }

    @Override
    public CompletableFuture<String> read(OutputRef ref) {
        synchronized (cache) {
            String cached = cache.get(ref);
            if (cached != null) {
                hits.incrementAndGet();
                return CompletableFuture.completedFuture(cached);
            }
        }
        if (closed) {
            return CompletableFuture.failedFuture(new UnreadableOutputException(ref, "the worker is closing"));
        }
        CompletableFuture<String> fresh = new CompletableFuture<>();
        CompletableFuture<String> existing = reading.putIfAbsent(ref, fresh);
        if (existing != null) {
            return existing;
        }
        queue.add(ref);
        return fresh;
    }

    /** Records read from the topic so far (cache misses). */
    long fetched() {
        return fetched.get();
    }

    /** Reads served from the cache so far. */
    long cacheHits() {
        return hits.get();
    }

    private void run() {
        try {
            while (!closed) {
                OutputRef first = queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                List<OutputRef> batch = new ArrayList<>();
                batch.add(first);
                queue.drainTo(batch);
                readAll(batch);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (WakeupException e) {
            // closing
        } catch (RuntimeException e) {
            LOGGER.error("tool output reader stopped", e);
        } finally {
            failAll("the tool output reader stopped");
            consumer.close(Duration.ofSeconds(5));
        }
    }

    private void readAll(List<OutputRef> refs) {
        Map<TopicPartition, NavigableMap<Long, List<OutputRef>>> wanted = new HashMap<>();
        for (OutputRef ref : refs) {
            wanted.computeIfAbsent(new TopicPartition(ref.getTopic(), ref.getPartition()), tp -> new TreeMap<>())
                    .computeIfAbsent(ref.getOffset(), o -> new ArrayList<>())
                    .add(ref);
        }
        // The assignment only grows (to the partitions of tool-results), so that a pass does not reset the
        // consumer's fetch sessions; partitions not read in this pass stay paused.
        if (!assigned.containsAll(wanted.keySet())) {
            assigned.addAll(wanted.keySet());
            consumer.assign(assigned);
        }
        consumer.pause(assigned);
        consumer.resume(wanted.keySet());
        wanted.forEach((tp, offsets) -> consumer.seek(tp, offsets.firstKey()));
        long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
        int emptyPolls = 0;
        while (!wanted.isEmpty() && !closed) {
            if (System.nanoTime() > deadline) {
                wanted.values()
                        .forEach(offsets -> offsets.values()
                                .forEach(list -> list.forEach(
                                        ref -> fail(ref, "not found within " + READ_TIMEOUT.toSeconds() + " s"))));
                return;
            }
            try {
                var records = consumer.poll(Duration.ofMillis(100));
                // A first empty poll is usually the fetch still under way; a second one asks where the end is.
                if (records.isEmpty() && ++emptyPolls >= 2) {
                    failPastTheEnd(wanted);
                } else if (!records.isEmpty()) {
                    emptyPolls = 0;
                }
                for (ConsumerRecord<byte[], byte[]> record : records) {
                    TopicPartition tp = new TopicPartition(record.topic(), record.partition());
                    NavigableMap<Long, List<OutputRef>> offsets = wanted.get(tp);
                    List<OutputRef> waiting = offsets == null ? null : offsets.remove(record.offset());
                    if (waiting != null) {
                        deliver(waiting, record);
                    }
                }
            } catch (OffsetOutOfRangeException e) {
                for (TopicPartition tp : e.partitions()) {
                    NavigableMap<Long, List<OutputRef>> offsets = wanted.remove(tp);
                    if (offsets != null) {
                        offsets.values()
                                .forEach(list -> list.forEach(ref ->
                                        fail(ref, "the record is no longer on the topic (deleted by retention)")));
                    }
                }
            }
            for (var it = wanted.entrySet().iterator(); it.hasNext(); ) {
                var entry = it.next();
                TopicPartition tp = entry.getKey();
                NavigableMap<Long, List<OutputRef>> offsets = entry.getValue();
                if (offsets.isEmpty()) {
                    consumer.pause(List.of(tp));
                    it.remove();
                    continue;
                }
                long position = consumer.position(tp);
                // Offsets passed without a record: a transaction marker or an aborted record, not a result.
                for (var passed = offsets.headMap(position, false); !passed.isEmpty(); ) {
                    passed.pollFirstEntry().getValue().forEach(ref -> fail(ref, "no committed record at that offset"));
                }
                if (offsets.isEmpty()) {
                    consumer.pause(List.of(tp));
                    it.remove();
                } else if (offsets.firstKey() > position + SEEK_GAP) {
                    consumer.seek(tp, offsets.firstKey());
                }
            }
        }
    }

    /**
     * Fails the reads of offsets at or past their partition's end: a reference is made only to a record the
     * coalescer read (committed, so below the last stable offset, which never goes back), so such a
     * reference names nothing and waiting would not help.
     */
    private void failPastTheEnd(Map<TopicPartition, NavigableMap<Long, List<OutputRef>>> wanted) {
        Map<TopicPartition, Long> ends = consumer.endOffsets(wanted.keySet(), Duration.ofSeconds(5));
        wanted.forEach((tp, offsets) -> {
            Long end = ends.get(tp);
            if (end != null) {
                for (var past = offsets.tailMap(end, true); !past.isEmpty(); ) {
                    past.pollFirstEntry()
                            .getValue()
                            .forEach(ref -> fail(ref, "the offset is past the end of the topic (" + end + ")"));
                }
            }
        });
    }

    private void deliver(List<OutputRef> refs, ConsumerRecord<byte[], byte[]> record) {
        fetched.incrementAndGet();
        ToolResult result;
        try {
            result = record.value() == null
                    ? null
                    : decoder.deserialize(record.topic(), record.headers(), record.value());
        } catch (RuntimeException e) {
            refs.forEach(ref -> fail(ref, "the record cannot be decoded: " + e.getMessage()));
            return;
        }
        if (result == null
                || result.getStatus() != ToolStatus.OK
                || result.getOutputRef() != null
                || result.getOutput().length() != refs.get(0).getChars()) {
            refs.forEach(ref ->
                    fail(ref, "the record there is not the OK result of " + ref.getChars() + " characters it names"));
            return;
        }
        String output = result.getOutput();
        synchronized (cache) {
            if (cache.put(refs.get(0), output) == null) {
                cachedChars += output.length();
            }
            for (var it = cache.entrySet().iterator(); cachedChars > cacheChars && it.hasNext(); ) {
                cachedChars -= it.next().getValue().length();
                it.remove();
            }
        }
        for (OutputRef ref : refs) {
            CompletableFuture<String> future = reading.remove(ref);
            if (future != null) {
                future.complete(output);
            }
        }
    }

    private void fail(OutputRef ref, String why) {
        LOGGER.warn(
                "referenced tool output not readable: topic={} partition={} offset={} why={}",
                ref.getTopic(),
                ref.getPartition(),
                ref.getOffset(),
                why);
        CompletableFuture<String> future = reading.remove(ref);
        if (future != null) {
            future.completeExceptionally(new UnreadableOutputException(ref, why));
        }
    }

    private void failAll(String why) {
        for (OutputRef ref : List.copyOf(reading.keySet())) {
            fail(ref, why);
        }
    }

    @Override
    public void close() {
        closed = true;
        consumer.wakeup();
        try {
            thread.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
