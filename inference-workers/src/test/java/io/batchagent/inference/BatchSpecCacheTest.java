package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.events.BatchSpec;
import io.batchagent.schemas.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class BatchSpecCacheTest {

    private static final Topics TOPICS = Fixtures.TOPICS;
    private static final Duration PATIENCE = Duration.ofSeconds(10);

    private final String topic = TOPICS.batchSpecs().name();
    private final MockConsumer<String, byte[]> consumer = new MockConsumer<>("earliest");
    private final AtomicLong offset = new AtomicLong();
    private BatchSpecCache cache;

    @BeforeEach
    void declareTopic() {
        Node node = new Node(0, "localhost", 9092);
        consumer.updatePartitions(
                topic,
                List.of(
                        new PartitionInfo(topic, 0, node, new Node[] {node}, new Node[] {node}),
                        new PartitionInfo(topic, 1, node, new Node[] {node}, new Node[] {node})));
        consumer.updateBeginningOffsets(Map.of(new TopicPartition(topic, 0), 0L, new TopicPartition(topic, 1), 0L));
    }

    @AfterEach
    void close() {
        cache.close();
    }

    @Test
    void shouldAnswerAWaitingCallerOnceTheSpecArrives() {
        // Given a caller waiting for a batch the cache has not seen
        cache = start(Duration.ofSeconds(30));
        CompletableFuture<BatchSpec> waiting = cache.get("b-late");
        assertThat(waiting).isNotDone();

        // When its spec arrives on the second partition
        BatchSpec spec = Fixtures.spec("b-late");
        publish(1, "b-late", encode(spec));

        // Then the caller gets it, and later callers get it at once
        assertThat(waiting).succeedsWithin(PATIENCE).isEqualTo(spec);
        assertThat(cache.get("b-late")).isCompletedWithValue(spec);
    }

    @Test
    void shouldFailWithATimeoutNamingTheBatchAndTopic() {
        cache = start(Duration.ofMillis(200));

        CompletableFuture<BatchSpec> unknown = cache.get("b-ghost");

        assertThat(unknown)
                .failsWithin(PATIENCE)
                .withThrowableThat()
                .havingCause()
                .isInstanceOf(TimeoutException.class)
                .withMessage("no BatchSpec for batch 'b-ghost' arrived on topic '" + topic + "' within 200 ms");
    }

    @Test
    void shouldSkipAnUndecodableSpecAndForgetATombstonedBatch() {
        cache = start(Duration.ofSeconds(30));
        BatchSpec spec = Fixtures.spec("b-1");

        publish(0, "b-bad", "garbage".getBytes(StandardCharsets.UTF_8));
        publish(0, "b-1", encode(spec));
        await().atMost(PATIENCE).until(() -> cache.current("b-1").isPresent());
        assertThat(cache.current("b-bad")).isEmpty();

        publish(0, "b-1", null);
        await().atMost(PATIENCE).until(() -> cache.current("b-1").isEmpty());
        assertThat(cache.size()).isZero();
    }

    @Test
    void shouldFailWaitersAsUnavailableAndReportWhenTheReaderDies() {
        // Given a caller waiting for a batch the cache has not seen
        cache = start(Duration.ofMinutes(5));
        CompletableFuture<BatchSpec> waiting = cache.get("b-waiting");

        // When the reader meets an error it cannot retry
        consumer.setPollException(new KafkaException("not authorized to read the specs"));

        // Then the cache says it stopped, and why, instead of calling the batch unknown
        assertThat(cache.stopped())
                .failsWithin(PATIENCE)
                .withThrowableThat()
                .havingCause()
                .withMessage("not authorized to read the specs");
        assertThat(waiting)
                .failsWithin(PATIENCE)
                .withThrowableThat()
                .havingCause()
                .isInstanceOf(BatchSpecLookup.UnavailableException.class)
                .withMessageContaining("before batch 'b-waiting' was known");
        assertThat(cache.get("b-later"))
                .failsWithin(PATIENCE)
                .withThrowableThat()
                .havingCause()
                .isInstanceOf(BatchSpecLookup.UnavailableException.class)
                .withMessageContaining("not authorized to read the specs");
    }

    @Test
    void shouldFailWaitersAsUnavailableWhenClosed() {
        cache = start(Duration.ofMinutes(5));
        CompletableFuture<BatchSpec> waiting = cache.get("b-waiting");

        cache.close();

        assertThat(waiting)
                .failsWithin(PATIENCE)
                .withThrowableThat()
                .havingCause()
                .isInstanceOf(BatchSpecLookup.UnavailableException.class);
        assertThat(cache.stopped()).succeedsWithin(PATIENCE);
    }

    private BatchSpecCache start(Duration waitTimeout) {
        BatchSpecCache started = new BatchSpecCache(consumer, TOPICS, waitTimeout);
        started.start();
        await().atMost(PATIENCE).until(() -> consumer.assignment().size() == 2);
        return started;
    }

    private void publish(int partition, String key, byte[] value) {
        // Runs on the cache's thread at its next poll, where the consumer is assigned.
        consumer.schedulePollTask(
                () -> consumer.addRecord(new ConsumerRecord<>(topic, partition, offset.getAndIncrement(), key, value)));
    }

    private byte[] encode(BatchSpec spec) {
        return TOPICS.batchSpecs().valueSerde().serializer().serialize(topic, spec);
    }
}
