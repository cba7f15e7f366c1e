package io.batchagent.inference;

import io.batchagent.events.BatchSpec;
import java.util.concurrent.CompletableFuture;

/** Finds the BatchSpec of a batch; see {@link BatchSpecCache} for the contract. */
@FunctionalInterface
interface BatchSpecLookup {

    /**
     * Completes with the spec once it is known; completes exceptionally, with a specific message, if it never is,
     * or with an {@link UnavailableException} if the lookup itself stopped (closed, or its reader failed).
     */
    CompletableFuture<BatchSpec> get(String batchId);

    /** The spec of {@code batchId} if it is known now, without waiting. */
    default java.util.Optional<BatchSpec> current(String batchId) {
        CompletableFuture<BatchSpec> spec = get(batchId);
        return spec.isDone() && !spec.isCompletedExceptionally()
                ? java.util.Optional.ofNullable(spec.getNow(null))
                : java.util.Optional.empty();
    }

    /**
     * The lookup cannot answer: it was closed or its reader failed. Says nothing about the batch, so a turn
     * that meets it must not be failed for an unknown batch: it is left unhandled, to be handled again.
     */
    final class UnavailableException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        UnavailableException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
