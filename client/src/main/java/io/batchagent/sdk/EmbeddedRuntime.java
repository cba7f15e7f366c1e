package io.batchagent.sdk;

import java.nio.file.Path;

/**
 * Runs a broker and every stage in this JVM for {@link BatchAgent#embedded(Path)}. Found with
 * {@link java.util.ServiceLoader}: the SDK module depends on no stage, and {@code batchagent-cli}
 * provides the one implementation. Not for applications to implement.
 */
public interface EmbeddedRuntime {

    /** Starts an embedded broker in {@code dataDir}, the default simulator backend and every stage. */
    BatchAgent embedded(Path dataDir);
}
