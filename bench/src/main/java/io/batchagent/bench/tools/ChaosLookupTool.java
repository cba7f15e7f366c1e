package io.batchagent.bench.tools;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;

/**
 * The chaos campaign's {@code chaos_lookup}: 30 ms of deterministic latency, a fixed text per topic, and a
 * line in the {@link ChaosLedger} for every execution that ran to the end. SIMULATED.
 */
public final class ChaosLookupTool extends BenchTool {

    public ChaosLookupTool() {
        super(Duration.ofMillis(30));
    }

    @Override
    public String name() {
        return "chaos_lookup";
    }

    @Override
    public String description() {
        return "Chaos campaign tool (topic).";
    }

    @Override
    protected String keyArgument() {
        return "topic";
    }

    @Override
    protected String output(String key, JsonNode arguments) {
        ChaosLedger.completed(name(), key);
        return "chaos_lookup " + key + ": the record for this topic.";
    }
}
