package io.batchagent.tools;

import static org.awaitility.Awaitility.await;

import io.batchagent.events.DeadLetter;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolResult;
import io.batchagent.schemas.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A {@link ToolWorker} running its real consumer loop over a {@link MockConsumer} (one partition
 * of tool-calls) and a {@link MockProducer}; records are fed and results read without a broker.
 */
final class ToolWorkerHarness implements AutoCloseable {

    static final Duration WAIT = Duration.ofSeconds(10);

    final Topics topics;
    final RecordingConsumer consumer = new RecordingConsumer();
    final MockProducer<byte[], byte[]> producer;
    final ToolWorker worker;
    private final TopicPartition partition;
    private long nextOffset;

    ToolWorkerHarness(String testName, ToolWorkerConfig config, ToolRegistry registry) {
        this(testName, config, registry, true);
    }

    /** @param autoAck whether the mock broker acknowledges each send at once */
    ToolWorkerHarness(String testName, ToolWorkerConfig config, ToolRegistry registry, boolean autoAck) {
        this.topics = Topics.create(testName + ".", Map.of());
        this.partition = new TopicPartition(topics.toolCalls().name(), 0);
        this.producer = new MockProducer<>(autoAck, null, new ByteArraySerializer(), new ByteArraySerializer());
        ToolResultCache cache = config.cacheMaxEntries() == 0
                ? ToolResultCache.none()
                : new CaffeineToolResultCache(config.cacheMaxEntries());
        this.worker = new ToolWorker(consumer, producer, topics, config, registry, cache, true);
    }

    ToolWorkerHarness start() {
        // Runs on the loop's first poll, after it subscribed.
        consumer.schedulePollTask(() -> {
            consumer.rebalance(List.of(partition));
            consumer.updateBeginningOffsets(Map.of(partition, 0L));
        });
        worker.start();
        return this;
    }

    void send(ToolCall call) {
        String topic = topics.toolCalls().name();
        sendRaw(
                call.getCallHash().getBytes(StandardCharsets.UTF_8),
                topics.toolCalls().valueSerde().serializer().serialize(topic, call));
    }

    /** Feeds a record as the broker would; returns its offset. */
    long sendRaw(byte[] key, byte[] value) {
        long offset = nextOffset++;
        ConsumerRecord<byte[], byte[]> record = new ConsumerRecord<>(partition.topic(), 0, offset, key, value);
        consumer.schedulePollTask(() -> consumer.addRecord(record));
        return offset;
    }

    List<ToolResult> results() {
        String topic = topics.toolResults().name();
        return sent(topic).stream()
                .map(r -> topics.toolResults().valueSerde().deserializer().deserialize(topic, r.value()))
                .toList();
    }

    List<ProducerRecord<byte[], byte[]>> resultRecords() {
        return sent(topics.toolResults().name());
    }

    List<DeadLetter> deadLetters() {
        String topic = topics.deadLetters().name();
        return sent(topic).stream()
                .map(r -> topics.deadLetters().valueSerde().deserializer().deserialize(topic, r.value()))
                .toList();
    }

    /** Waits for the n-th result (1-based) published and returns it. */
    ToolResult awaitResult(int n) {
        await().atMost(WAIT).until(() -> results().size() >= n);
        return results().get(n - 1);
    }

    /** The last offset committed for the tool-calls partition, if any; readable after close. */
    Optional<Long> committed() {
        return Optional.ofNullable(consumer.lastCommitted.get(partition)).map(OffsetAndMetadata::offset);
    }

    /** Remembers commits, because a closed {@link MockConsumer} answers no questions. */
    static final class RecordingConsumer extends MockConsumer<byte[], byte[]> {
        final Map<TopicPartition, OffsetAndMetadata> lastCommitted = new ConcurrentHashMap<>();

        RecordingConsumer() {
            super("earliest");
        }

        @Override
        public synchronized void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
            super.commitSync(offsets);
            lastCommitted.putAll(offsets);
        }
    }

    private List<ProducerRecord<byte[], byte[]>> sent(String topic) {
        return producer.history().stream().filter(r -> r.topic().equals(topic)).toList();
    }

    @Override
    public void close() {
        worker.close();
    }
}
