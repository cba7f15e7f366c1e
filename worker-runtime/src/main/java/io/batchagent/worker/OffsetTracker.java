package io.batchagent.worker;

import java.util.HashMap;
import java.util.Map;
import java.util.NavigableSet;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * Tracks, per partition, which fetched offsets are not yet done, so that only offsets whose
 * processing is complete are committed although records complete out of order.
 *
 * <p>The committable position of a partition is its lowest outstanding offset, or one past the
 * highest offset seen when none is outstanding.
 *
 * <p>Each time a partition starts being tracked (it was assigned, or fetched from after being
 * forgotten) it gets a new <em>epoch</em>, which {@link #fetched} returns. {@link #done} takes the
 * epoch of the fetch it completes, so that a record still in flight from before a revocation cannot,
 * when it completes, clear the same offset fetched again after the partition came back.
 *
 * <p>Not thread-safe: the poll thread owns it.
 */
final class OffsetTracker {

    private static final class PartitionState {
        final long epoch;
        final NavigableSet<Long> outstanding = new TreeSet<>();
        long nextAfterSeen = -1;
        long lastCommitted = -1;

        PartitionState(long epoch) {
            this.epoch = epoch;
        }
    }

    private final Map<TopicPartition, PartitionState> partitions = new HashMap<>();
    private long nextEpoch = 1;

    /** Starts tracking {@code partition} (if it is not tracked yet) and returns its epoch. */
    long assigned(TopicPartition partition) {
        return state(partition).epoch;
    }

    /** Records that {@code offset} was fetched and is not yet done; returns the epoch to pass to {@link #done}. */
    long fetched(TopicPartition partition, long offset) {
        PartitionState state = state(partition);
        state.outstanding.add(offset);
        state.nextAfterSeen = Math.max(state.nextAfterSeen, offset + 1);
        return state.epoch;
    }

    /**
     * Marks {@code offset} done if it was fetched in {@code epoch}; returns false (and changes nothing)
     * if its partition is no longer tracked or is tracked under a later epoch (revoked, then assigned again).
     */
    boolean done(TopicPartition partition, long offset, long epoch) {
        PartitionState state = partitions.get(partition);
        return state != null && state.epoch == epoch && state.outstanding.remove(offset);
    }

    /** Offsets that moved since the last call to {@link #markCommitted}, ready to commit. */
    Map<TopicPartition, OffsetAndMetadata> committable() {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        partitions.forEach((partition, state) -> {
            OffsetAndMetadata offset = committable(state);
            if (offset != null) {
                offsets.put(partition, offset);
            }
        });
        return offsets;
    }

    void markCommitted(Map<TopicPartition, OffsetAndMetadata> offsets) {
        offsets.forEach((partition, offset) -> {
            PartitionState state = partitions.get(partition);
            if (state != null) {
                state.lastCommitted = Math.max(state.lastCommitted, offset.offset());
            }
        });
    }

    /** Stops tracking {@code partition}; its committable offset, if any, is returned first. */
    OffsetAndMetadata forget(TopicPartition partition) {
        PartitionState state = partitions.remove(partition);
        return state == null ? null : committable(state);
    }

    /** Whether {@code partition} is tracked under {@code epoch} (assigned, and not revoked since). */
    boolean tracks(TopicPartition partition, long epoch) {
        PartitionState state = partitions.get(partition);
        return state != null && state.epoch == epoch;
    }

    /** Offsets fetched and not yet done, over every tracked partition. */
    int outstanding() {
        return partitions.values().stream().mapToInt(s -> s.outstanding.size()).sum();
    }

    private PartitionState state(TopicPartition partition) {
        return partitions.computeIfAbsent(partition, p -> new PartitionState(nextEpoch++));
    }

    private static OffsetAndMetadata committable(PartitionState state) {
        long position = state.outstanding.isEmpty() ? state.nextAfterSeen : state.outstanding.first();
        return position > state.lastCommitted && position >= 0 ? new OffsetAndMetadata(position) : null;
    }
}
