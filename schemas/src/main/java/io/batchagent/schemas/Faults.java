package io.batchagent.schemas;

import org.apache.kafka.common.errors.RetriableException;

/** Tells a transient fault from a permanent one, for every stage alike. */
public final class Faults {

    private Faults() {}

    /**
     * Whether {@code failure} is transient: its cause chain holds a Kafka {@link RetriableException} (a
     * broker fault, or a schema registry that stayed unavailable through its client's retries). The
     * record involved is fine and must be tried again later, never dead-lettered.
     */
    public static boolean isRetriable(Throwable failure) {
        int depth = 0;
        for (Throwable cause = failure; cause != null && depth < 32; cause = cause.getCause(), depth++) {
            if (cause instanceof RetriableException) {
                return true;
            }
        }
        return false;
    }
}
