package io.batchagent.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class InFlightConsumerTest {

    private static final String TOPIC = "work";
    private static final TopicPartition P0 = new TopicPartition(TOPIC, 0);

    private final MockConsumer<String, Integer> consumer = new MockConsumer<>("earliest");
    private final Map<Long, CompletableFuture<Void>> pending = new ConcurrentHashMap<>();
    private final List<Integer> dispatchOrder = new CopyOnWriteArrayList<>();
    private InFlightConsumer<String, Integer> loop;

    @AfterEach
    void tearDown() {
        pending.values().forEach(f -> f.complete(null));
        if (loop != null) {
            loop.close();
        }
    }

    private void start(InFlightConsumer.Options<String, Integer> options, int records) {
        consumer.updateBeginningOffsets(Map.of(P0, 0L));
        consumer.schedulePollTask(() -> {
            consumer.rebalance(List.of(P0));
            for (int i = 0; i < records; i++) {
                consumer.addRecord(new ConsumerRecord<>(TOPIC, 0, i, "k" + i, i));
            }
        });
        loop = new InFlightConsumer<>(consumer, List.of(TOPIC), record -> {
            dispatchOrder.add(record.value());
            CompletableFuture<Void> done = new CompletableFuture<>();
            pending.put(record.offset(), done);
            return done;
        }, options);
        loop.start();
    }

    private long committed() {
        Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(Set.of(P0));
        OffsetAndMetadata offset = committed.get(P0);
        return offset == null ? -1 : offset.offset();
    }

    @Test
    void shouldNeverHaveMoreThanMaxInFlightRecordsInProcessing() {
        start(InFlightConsumer.Options.of("bounded", 3), 10);

        await().until(() -> pending.size() == 3);
        assertThat(loop.inFlight()).isEqualTo(3);

        for (long offset = 0; offset < 10; offset++) {
            long o = offset;
            await().until(() -> pending.containsKey(o));
            pending.get(o).complete(null);
        }

        await().until(() -> loop.completed() == 10);
        assertThat(loop.peakInFlight()).isEqualTo(3);
    }

    @Test
    void shouldCommitOnlyOffsetsBelowWhichEverythingIsDone() {
        start(InFlightConsumer.Options.<String, Integer>of("ordered-commits", 5).withCommitInterval(Duration.ZERO), 5);
        await().until(() -> pending.size() == 5);

        pending.get(1L).complete(null);
        pending.get(2L).complete(null);
        pending.get(4L).complete(null);
        await().until(() -> loop.completed() == 3);
        await().during(Duration.ofMillis(200)).until(() -> committed() <= 0);

        pending.get(0L).complete(null);
        await().until(() -> committed() == 3);

        pending.get(3L).complete(null);
        await().until(() -> committed() == 5);
    }

    @Test
    void shouldDispatchPreferredRecordsFirstAmongBuffered() {
        Comparator<ConsumerRecord<String, Integer>> evenFirst =
                Comparator.comparing((ConsumerRecord<String, Integer> r) -> r.value() % 2 != 0);
        start(InFlightConsumer.Options.<String, Integer>of("priority", 1).withPriority(evenFirst), 6);
        await().until(() -> pending.containsKey(0L));

        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            int index = i;
            await().until(() -> dispatchOrder.size() > index);
            int value = dispatchOrder.get(index);
            order.add(value);
            pending.get((long) value).complete(null);
        }

        // 0 was dispatched before the rest arrived in the buffer; then evens, then odds.
        assertThat(order).containsExactly(0, 2, 4, 1, 3, 5);
    }

    @Test
    void shouldPauseFetchingWhileTheBufferIsFullAndResumeWhenItDrains() {
        start(InFlightConsumer.Options.<String, Integer>of("backpressure", 1).withMaxBuffered(2), 4);
        await().until(() -> pending.size() == 1);

        await().until(() -> consumer.paused().contains(P0));

        pending.get(0L).complete(null);
        await().until(() -> pending.containsKey(1L));
        pending.get(1L).complete(null);
        await().until(() -> pending.containsKey(2L));
        pending.get(2L).complete(null);

        await().until(() -> consumer.paused().isEmpty());
    }

    @Test
    void shouldRetryAFailedStageWithoutCommittingPastIt() {
        List<Long> failures = new CopyOnWriteArrayList<>();
        start(InFlightConsumer.Options.<String, Integer>of("retries", 2).withCommitInterval(Duration.ZERO)
                .withOnHandlerFailure((record, error) -> failures.add(record.offset())), 2);
        await().until(() -> pending.size() == 2);
        CompletableFuture<Void> firstAttempt = pending.get(0L);

        firstAttempt.completeExceptionally(new IllegalStateException("the producer timed out"));
        pending.get(1L).complete(null);

        await().until(() -> dispatchOrder.stream().filter(v -> v == 0).count() == 2);
        assertThat(committed()).isLessThanOrEqualTo(0);
        pending.get(0L).complete(null);

        await().until(() -> committed() == 2);
        assertThat(failures).isEmpty();
    }

    @Test
    void shouldReportAStageThatFailsEveryAttemptAndGoOn() {
        List<Long> failures = new CopyOnWriteArrayList<>();
        start(InFlightConsumer.Options.<String, Integer>of("failures", 2).withCommitInterval(Duration.ZERO)
                .withHandlerAttempts(2)
                .withOnHandlerFailure((record, error) -> failures.add(record.offset())), 2);
        await().until(() -> pending.size() == 2);
        CompletableFuture<Void> firstAttempt = pending.get(0L);

        firstAttempt.completeExceptionally(new IllegalStateException("a bug"));
        pending.get(1L).complete(null);
        await().until(() -> pending.get(0L) != firstAttempt);
        assertThat(failures).isEmpty();
        pending.get(0L).completeExceptionally(new IllegalStateException("a bug again"));

        await().until(() -> committed() == 2);
        assertThat(failures).containsExactly(0L);
    }
}
