package io.batchagent.worker;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

class OffsetTrackerTest {

    private static final TopicPartition P0 = new TopicPartition("work", 0);

    private final OffsetTracker tracker = new OffsetTracker();

    @Test
    void shouldCommitOnlyBelowTheLowestOutstandingOffset() {
        long epoch = tracker.fetched(P0, 0);
        tracker.fetched(P0, 1);
        tracker.fetched(P0, 2);

        tracker.done(P0, 1, epoch);
        assertThat(tracker.committable()).containsEntry(P0, new OffsetAndMetadata(0));

        tracker.done(P0, 0, epoch);
        assertThat(tracker.committable()).containsEntry(P0, new OffsetAndMetadata(2));

        tracker.done(P0, 2, epoch);
        assertThat(tracker.committable()).containsEntry(P0, new OffsetAndMetadata(3));
    }

    @Test
    void shouldNotLetAStaleCompletionClearTheOffsetOfACopyFetchedAfterReassignment() {
        // Given offset 5 in flight when its partition is revoked (nothing past 5 is committable)
        long before = tracker.fetched(P0, 5);
        assertThat(tracker.forget(P0)).isEqualTo(new OffsetAndMetadata(5));

        // And the partition comes back and offset 5 is fetched again, its new copy in flight
        long after = tracker.fetched(P0, 5);
        assertThat(after).isNotEqualTo(before);

        // When the old copy completes
        boolean counted = tracker.done(P0, 5, before);

        // Then it does not count: offset 5 is still outstanding and nothing past it is committable
        assertThat(counted).isFalse();
        assertThat(tracker.outstanding()).isEqualTo(1);
        assertThat(tracker.committable()).isEqualTo(Map.of(P0, new OffsetAndMetadata(5)));
        assertThat(tracker.tracks(P0, before)).isFalse();

        // And the new copy's completion does
        assertThat(tracker.done(P0, 5, after)).isTrue();
        assertThat(tracker.committable()).isEqualTo(Map.of(P0, new OffsetAndMetadata(6)));
    }

    @Test
    void shouldNotOfferAnOffsetAgainOnceItIsCommitted() {
        long epoch = tracker.fetched(P0, 0);
        tracker.done(P0, 0, epoch);
        Map<TopicPartition, OffsetAndMetadata> ready = tracker.committable();

        tracker.markCommitted(ready);

        assertThat(tracker.committable()).isEmpty();
        assertThat(tracker.forget(P0)).isNull();
    }
}
