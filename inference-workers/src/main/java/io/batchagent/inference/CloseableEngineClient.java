package io.batchagent.inference;

/** An {@link EngineClient} that owns resources (connection pools, threads); {@link #close()} releases them. */
public interface CloseableEngineClient extends EngineClient, AutoCloseable {

    /** Releases the client's resources; calls after it fail. Does not throw. */
    @Override
    void close();
}
