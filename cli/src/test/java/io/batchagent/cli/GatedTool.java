package io.batchagent.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.events.ToolSpec;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TEST tool whose executions all block until the test opens its gate, so that a test can hold
 * every agent in its tool wait for as long as it needs, without any timing assumption.
 */
public final class GatedTool implements Tool {

    static final String NAME = "gated_search";

    /** Set to true, a JVM starts with the gate closed (for a run in a process of its own). */
    static final String CLOSED_PROPERTY = "batchagent.test.gate.closed";

    private static volatile CountDownLatch gate = new CountDownLatch(Boolean.getBoolean(CLOSED_PROPERTY) ? 1 : 0);
    private static final AtomicInteger STARTED = new AtomicInteger();
    private static final AtomicInteger FINISHED = new AtomicInteger();

    /** Closes the gate: executions from now on block until {@link #open()}; counters restart. */
    static void close() {
        gate = new CountDownLatch(1);
        STARTED.set(0);
        FINISHED.set(0);
    }

    /** Lets every blocked and future execution through. */
    static void open() {
        gate.countDown();
    }

    static int started() {
        return STARTED.get();
    }

    static int finished() {
        return FINISHED.get();
    }

    /** The declaration a batch uses to offer this tool. */
    static ToolSpec spec(long timeoutMs) {
        return ToolSpec.newBuilder()
                .setName(NAME)
                .setDescription("TEST search that waits for the test's gate")
                .setParametersJson(
                        "{\"properties\":{\"query\":{\"type\":\"string\"}},\"required\":[\"query\"],\"type\":\"object\"}")
                .setTimeoutMs(timeoutMs)
                .build();
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String execute(JsonNode arguments, ToolContext context) throws InterruptedException {
        STARTED.incrementAndGet();
        gate.await();
        FINISHED.incrementAndGet();
        return "results for " + arguments.path("query").asText();
    }
}
