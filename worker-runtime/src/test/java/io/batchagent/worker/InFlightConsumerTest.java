package io.batchagent.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class InFlightConsumerTest {

    private static final String TOPIC = "work";
    private static final TopicPartition P0 = new TopicPartition(TOPIC, 0);

    private final Map<TopicPartition, Long> commits = new ConcurrentHashMap<>();
    /** Remembers every commit, so that tests can read them after the loop closed the consumer. */
    private final MockConsumer<String, Integer> consumer = new MockConsumer<>("earliest") {
        @Override
        public synchronized void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
            super.commitSync(offsets);
            offsets.forEach((partition, offset) -> commits.put(partition, offset.offset()));
        }
    };

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
        loop = new InFlightConsumer<>(
                consumer,
                List.of(TOPIC),
                record -> {
                    dispatchOrder.add(record.value());
                    CompletableFuture<Void> done = new CompletableFuture<>();
                    pending.put(record.offset(), done);
                    return done;
                },
                options);
        loop.start();
    }

    private long committed() {
        return commits.getOrDefault(P0, -1L);
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
    void shouldFollowALowerLimitAndPauseEveryPartitionWhileItIsZero() {
        AtomicInteger limit = new AtomicInteger(2);
        start(InFlightConsumer.Options.<String, Integer>of("flow-control", 8).withLimit(limit::get), 6);
        await().until(() -> pending.size() == 2);

        limit.set(0);
        pending.get(0L).complete(null);
        pending.get(1L).complete(null);
        await().until(() -> consumer.paused().contains(P0) && loop.inFlight() == 0);
        assertThat(pending).hasSize(2);

        limit.set(8);
        await().until(() -> pending.size() == 6);
        assertThat(consumer.paused()).isEmpty();
        assertThat(loop.peakInFlight()).isEqualTo(4);
    }

    @Test
    void shouldHoldBackARecordTheAdmissionGateRefusesUntilItAdmitsIt() {
        // Given a gate that admits records whose value is below a bound that the test raises
        AtomicInteger admitBelow = new AtomicInteger(2);
        start(
                InFlightConsumer.Options.<String, Integer>of("admission", 8)
                        .withCommitInterval(Duration.ZERO)
                        .withAdmission(record -> record.value() < admitBelow.get()),
                6);

        // When the first two are dispatched, the third waits although slots are free: the loop has passed
        // dispatch since the first completed (its offset is committed) and started nothing more
        await().until(() -> pending.size() == 2);
        pending.get(0L).complete(null);
        await().until(() -> committed() == 1);
        assertThat(pending).hasSize(2);
        assertThat(loop.inFlight()).isEqualTo(1);

        // Then it starts once the gate admits it, and the rest follow
        admitBelow.set(Integer.MAX_VALUE);
        await().until(() -> pending.size() == 6);
        assertThat(dispatchOrder).containsExactly(0, 1, 2, 3, 4, 5);
    }

    @Test
    void shouldRetryAFailedStageWithoutCommittingPastIt() {
        List<Long> failures = new CopyOnWriteArrayList<>();
        start(
                InFlightConsumer.Options.<String, Integer>of("retries", 2)
                        .withCommitInterval(Duration.ZERO)
                        .withOnHandlerFailure((record, error) -> failures.add(record.offset())),
                2);
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
    void shouldStopWithoutCommittingPastAStageThatFailsEveryAttempt() {
        // Given records 0..2 in flight, and a stage allowed two attempts
        List<Long> failures = new CopyOnWriteArrayList<>();
        start(
                InFlightConsumer.Options.<String, Integer>of("failures", 3)
                        .withCommitInterval(Duration.ZERO)
                        .withHandlerAttempts(2)
                        .withOnHandlerFailure((record, error) -> failures.add(record.offset())),
                3);
        await().until(() -> pending.size() == 3);
        CompletableFuture<Void> firstAttempt = pending.get(0L);

        // When 1 and 2 complete, and 0 fails on both attempts
        pending.get(1L).complete(null);
        pending.get(2L).complete(null);
        firstAttempt.completeExceptionally(new IllegalStateException("the outcome could not be written"));
        await().until(() -> pending.get(0L) != firstAttempt);
        assertThat(failures).isEmpty();
        pending.get(0L).completeExceptionally(new IllegalStateException("the outcome could not be written, again"));

        // Then the loop stops, reporting why, and nothing at or past offset 0 was committed
        await().until(() -> !loop.isRunning());
        assertThat(loop.failure())
                .get()
                .extracting(Throwable::getMessage)
                .isEqualTo("the outcome could not be written, again");
        assertThat(failures).containsExactly(0L);
        assertThat(consumer.closed()).isTrue();
        assertThat(loop.completed()).isEqualTo(2);
        assertThat(committed()).isLessThanOrEqualTo(0);
    }

    @Test
    void shouldStopAtOnceWhenFailedFromAnotherThread() {
        start(
                InFlightConsumer.Options.<String, Integer>of("fail", 2)
                        .withCommitInterval(Duration.ZERO)
                        .withDrainTimeout(Duration.ofMinutes(5)),
                3);
        await().until(() -> pending.size() == 2);

        loop.fail(new IllegalStateException("the spec reader died"));

        // No drain: the records in flight are abandoned, uncommitted, and the buffered one never starts
        await().until(() -> !loop.isRunning());
        assertThat(loop.failure()).get().extracting(Throwable::getMessage).isEqualTo("the spec reader died");
        assertThat(consumer.closed()).isTrue();
        assertThat(committed()).isLessThanOrEqualTo(0);
        assertThat(dispatchOrder).containsExactly(0, 1);
    }

    @Test
    void shouldLetRecordsInFlightCompleteOnCloseWithoutDispatchingMore() throws Exception {
        // Given two records in flight and one buffered
        start(InFlightConsumer.Options.<String, Integer>of("drain", 2).withDrainTimeout(Duration.ofMinutes(1)), 3);
        await().until(() -> pending.size() == 2);

        // When close() is called, and the records in flight complete meanwhile
        Thread closing = new Thread(loop::close);
        closing.start();
        await().until(() -> consumer.paused().contains(P0));
        pending.get(0L).complete(null);
        pending.get(1L).complete(null);
        closing.join(30_000);

        // Then both are committed, and the buffered one was never started
        assertThat(closing.isAlive()).isFalse();
        assertThat(committed()).isEqualTo(2);
        assertThat(dispatchOrder).containsExactly(0, 1);
        assertThat(loop.failure()).isEmpty();
    }

    @Test
    void shouldAbandonRecordsStillInFlightWhenTheDrainTimeoutPasses() {
        start(InFlightConsumer.Options.<String, Integer>of("abandon", 2).withDrainTimeout(Duration.ofMillis(50)), 2);
        await().until(() -> pending.size() == 2);
        pending.get(1L).complete(null);
        await().until(() -> loop.completed() == 1);

        loop.close();

        assertThat(consumer.closed()).isTrue();
        assertThat(committed()).isLessThanOrEqualTo(0);
        assertThat(loop.failure()).isEmpty();
    }

    @Test
    void shouldDispatchAnEarlierTopicFirstAndPauseLaterTopicsWhileItsRecordsWait() {
        // Given one slot, work records fetched first, and the urgent topic ranked first
        TopicPartition urgent = new TopicPartition("urgent", 0);
        consumer.updateBeginningOffsets(Map.of(P0, 0L, urgent, 0L));
        consumer.schedulePollTask(() -> {
            consumer.rebalance(List.of(P0, urgent));
            for (int i = 0; i < 4; i++) {
                consumer.addRecord(new ConsumerRecord<>(TOPIC, 0, i, "k" + i, i));
            }
        });
        loop = new InFlightConsumer<>(
                consumer,
                List.of(TOPIC, "urgent"),
                record -> {
                    dispatchOrder.add(record.value());
                    CompletableFuture<Void> done = new CompletableFuture<>();
                    pending.put(record.topic().equals(TOPIC) ? record.offset() : 100 + record.offset(), done);
                    return done;
                },
                InFlightConsumer.Options.<String, Integer>of("topic-priority", 1)
                        .withTopicPriority(List.of("urgent", TOPIC)));
        loop.start();
        await().until(() -> pending.containsKey(0L));

        // When urgent records arrive while work 0 is in flight
        consumer.schedulePollTask(() -> {
            consumer.addRecord(new ConsumerRecord<>("urgent", 0, 0, "u0", 100));
            consumer.addRecord(new ConsumerRecord<>("urgent", 0, 1, "u1", 101));
        });

        // Then the work partition is paused while they wait, not the urgent one
        await().until(() -> consumer.paused().contains(P0));
        assertThat(consumer.paused()).doesNotContain(urgent);

        // And they go before the buffered work records
        pending.get(0L).complete(null);
        await().until(() -> pending.containsKey(100L));
        pending.get(100L).complete(null);
        await().until(() -> pending.containsKey(101L));
        pending.get(101L).complete(null);
        await().until(() -> pending.containsKey(1L));
        assertThat(dispatchOrder).startsWith(0, 100, 101, 1);

        // And once none wait, the work partition is fetched again
        await().until(() -> !consumer.paused().contains(P0));
    }

    @Test
    void shouldPauseLaterTopicsWhileAnEarlierTopicHasRecordsNotFetchedYet() {
        TopicPartition urgent = new TopicPartition("urgent", 0);
        consumer.updateBeginningOffsets(Map.of(P0, 0L, urgent, 0L));
        consumer.schedulePollTask(() -> consumer.rebalance(List.of(P0, urgent)));
        loop = new InFlightConsumer<>(
                consumer,
                List.of(TOPIC, "urgent"),
                record -> CompletableFuture.completedFuture(null),
                InFlightConsumer.Options.<String, Integer>of("lag", 1).withTopicPriority(List.of("urgent", TOPIC)));
        loop.start();
        await().until(() -> consumer.assignment().size() == 2);
        assertThat(consumer.paused()).isEmpty();

        // When the broker reports urgent records beyond the consumer's position
        consumer.updateEndOffsets(Map.of(urgent, 3L));

        // Then the later topic is paused until they are fetched
        await().until(() -> consumer.paused().contains(P0));
        consumer.updateEndOffsets(Map.of(urgent, 0L));
        await().until(() -> consumer.paused().isEmpty());
    }
}
