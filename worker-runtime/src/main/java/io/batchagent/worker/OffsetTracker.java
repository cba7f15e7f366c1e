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
 * highest offset seen when none is outstanding. Not thread-safe: the poll thread owns it.
 */
final class OffsetTracker {

    private static final class PartitionState {
        final NavigableSet<Long> outstanding = new TreeSet<>();
        long nextAfterSeen = -1;
        long lastCommitted = -1;
    }

    private final Map<TopicPartition, PartitionState> partitions = new HashMap<>();

    /** Records that {@code offset} was fetched and is not yet done. */
    void fetched(TopicPartition partition, long offset) {
        PartitionState state = partitions.computeIfAbsent(partition, p -> new PartitionState());
        state.outstanding.add(offset);
        state.nextAfterSeen = Math.max(state.nextAfterSeen, offset + 1);
    }

    /** Marks {@code offset} done; returns false if its partition is no longer tracked (revoked). */
    boolean done(TopicPartition partition, long offset) {
        PartitionState state = partitions.get(partition);
        return state != null && state.outstanding.remove(offset);
    }

    /** Offsets that moved since the last call to {@link #markCommitted}, ready to commit. */
    Map<TopicPartition, OffsetAndMetadata> committable() {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        partitions.forEach((partition, state) -> {
            long position = position(state);
            if (position > state.lastCommitted && position >= 0) {
                offsets.put(partition, new OffsetAndMetadata(position));
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
        if (state == null) {
            return null;
        }
        long position = position(state);
        return position > state.lastCommitted && position >= 0 ? new OffsetAndMetadata(position) : null;
    }

    /** Whether {@code partition} is tracked (assigned and not revoked). */
    boolean tracks(TopicPartition partition) {
        return partitions.containsKey(partition);
    }

    int outstanding() {
        return partitions.values().stream().mapToInt(s -> s.outstanding.size()).sum();
    }

    private static long position(PartitionState state) {
        return state.outstanding.isEmpty() ? state.nextAfterSeen : state.outstanding.first();
    }
}
