package io.batchagent.cli;

import io.batchagent.sdk.BatchAgent;
import io.batchagent.sdk.EmbeddedRuntime;
import java.nio.file.Path;
import java.util.Map;

/**
 * SDK agents that run their broker and stages in this JVM ({@link BatchAgent#embedded(Path)} finds this
 * class as its {@link EmbeddedRuntime}); {@link #start} runs every stage against a cluster or an
 * embedded broker, as {@code settings} say. For a deployment whose workers run elsewhere, use
 * {@link BatchAgent#connect}.
 */
public final class EmbeddedAgents implements EmbeddedRuntime {

    /** An embedded broker in {@code dataDir}, the default simulator backend, every stage. */
    @Override
    public BatchAgent embedded(Path dataDir) {
        return start(new BatchRunner.Settings(
                null, dataDir, BatchRunner.SIM_SCHEME, null, null, null, 32, Map.of(), "", null));
    }

    /** Starts what {@code settings} describe, every stage in this JVM (their batch id is ignored: each spec has its own). */
    public static BatchAgent start(BatchRunner.Settings settings) {
        LocalStack stack = LocalStack.start(settings);
        try {
            stack.awaitRunning();
        } catch (RuntimeException e) {
            stack.close();
            throw e;
        }
        return BatchAgent.withStages(stack.client(), settings.timeout(), stack);
    }
}
