package io.batchagent.inference;

import io.batchagent.events.BatchSpec;
import java.util.concurrent.CompletableFuture;

/** Finds the BatchSpec of a batch; see {@link BatchSpecCache} for the contract. */
@FunctionalInterface
interface BatchSpecLookup {

    /** Completes with the spec once it is known; completes exceptionally, with a specific message, if it never is. */
    CompletableFuture<BatchSpec> get(String batchId);
}
