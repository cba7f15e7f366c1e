package io.batchagent.bench.tools;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;

/**
 * The chaos campaign's {@code chaos_fetch}: 50 ms of deterministic latency, a fixed text per key, and a
 * line in the {@link ChaosLedger} for every execution that ran to the end. SIMULATED.
 */
public final class ChaosFetchTool extends BenchTool {

    public ChaosFetchTool() {
        super(Duration.ofMillis(50));
    }

    @Override
    public String name() {
        return "chaos_fetch";
    }

    @Override
    public String description() {
        return "Chaos campaign tool (key).";
    }

    @Override
    protected String keyArgument() {
        return "key";
    }

    @Override
    protected String output(String key, JsonNode arguments) {
        ChaosLedger.completed(name(), key);
        return "chaos_fetch " + key + ": the record for this key.";
    }
}
