package io.batchagent.topology;

import io.batchagent.schemas.Faults;
import io.batchagent.schemas.OversizedRecordException;
import java.util.Optional;
import org.apache.kafka.common.errors.RecordTooLargeException;

/** How the error handlers classify a failure: by walking its cause chain. */
final class Failures {

    /** Exception messages are cut to this many characters in dead letters and results. */
    static final int MAX_MESSAGE_CHARS = 4_000;

    private Failures() {}

    /** Whether the failure is transient (a registry or broker fault): the record must be tried again, not dead-lettered. */
    static boolean isRetriable(Throwable failure) {
        return Faults.isRetriable(failure);
    }

    /**
     * Whether the failure is the producer refusing a transactional step because an earlier one timed out
     * ({@code TransactionManager}: "the previous call to `commitTransaction` timed out and must be
     * retried"). Kafka Streams 4.4 meets it when the broker is away for longer than {@code max.block.ms}
     * during a commit: it retries the commit from {@code sendOffsetsToTransaction}, which the producer
     * refuses. The thread's producer is stuck, not the data: a new thread (a new producer, which fences the
     * old transaction) recovers.
     */
    static boolean isTimedOutTransaction(Throwable failure) {
        return find(failure, IllegalStateException.class)
                .map(Throwable::getMessage)
                .filter(message -> message.contains("timed out and must be retried"))
                .isPresent();
    }

    /** The size refusal in the chain, if the failure is one. */
    static Optional<RecordTooLargeException> tooLarge(Throwable failure) {
        Optional<OversizedRecordException> ours = find(failure, OversizedRecordException.class);
        return ours.isPresent()
                ? ours.map(RecordTooLargeException.class::cast)
                : find(failure, RecordTooLargeException.class);
    }

    /** The messages of the chain, joined, cut to {@link #MAX_MESSAGE_CHARS}. */
    static String describe(Throwable failure) {
        StringBuilder text = new StringBuilder(String.valueOf(failure.getMessage()));
        for (Throwable cause = failure.getCause();
                cause != null && cause != cause.getCause();
                cause = cause.getCause()) {
            text.append(": ").append(cause.getMessage());
        }
        return text.length() <= MAX_MESSAGE_CHARS ? text.toString() : text.substring(0, MAX_MESSAGE_CHARS) + "...";
    }

    private static <E extends Throwable> Optional<E> find(Throwable failure, Class<E> type) {
        int depth = 0;
        for (Throwable cause = failure; cause != null && depth < 32; cause = cause.getCause(), depth++) {
            if (type.isInstance(cause)) {
                return Optional.of(type.cast(cause));
            }
        }
        return Optional.empty();
    }
}
