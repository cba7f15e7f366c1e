package io.batchagent.bench.chaos;

import io.batchagent.bench.workload.BatchShape;
import io.batchagent.client.BatchDefinition;
import io.batchagent.events.ToolSpec;
import java.util.ArrayList;
import java.util.List;

/**
 * The chaos campaign's batch: agents that look up their topic with a coalescible tool
 * ({@code chaos_lookup}: 20 distinct topics), on about half the runs also fetch their key with a
 * cacheable tool ({@code chaos_fetch}: 50 distinct keys), then answer. Two or three turns each, decided
 * per call by the simulator's varied answers, so two copies of one turn can disagree.
 */
public final class ChaosBatch {

    static final String SYSTEM = "You are a bookkeeping agent under test. Look up your topic with chaos_lookup, "
            + "fetch your key with chaos_fetch if you need it, then answer. Final answers must be JSON matching the "
            + "requested schema.";
    static final String TASK = "Agent: {agent}\nTopic: {topic}\nKey: {key}\nTask: look up your topic, then report.";
    static final String SCHEMA = "{\"type\":\"object\",\"properties\":{\"agent\":{\"type\":\"string\"},"
            + "\"summary\":{\"type\":\"string\"}},\"required\":[\"agent\",\"summary\"],\"additionalProperties\":false}";
    static final int TOPICS = 20;
    static final int KEYS = 50;
    /** A cached result lives longer than any campaign, so a re-execution is never an expiry. */
    static final long CACHE_TTL_MS = 3_600_000;

    private ChaosBatch() {}

    /** The batch of {@code jobs} agents; the same for the same size, in every process. */
    public static BatchDefinition definition(int jobs) {
        List<String> inputs = new ArrayList<>();
        for (int i = 0; i < jobs; i++) {
            inputs.add("{\"agent\":\"agent-" + i + "\",\"topic\":\"topic-" + (i % TOPICS) + "\",\"key\":\"k"
                    + (i * 7 % KEYS) + "\"}");
        }
        return new BatchDefinition(SYSTEM, TASK, inputs, tools(), SCHEMA, "sim-model", 4, 256, 0, 0, 0);
    }

    static List<ToolSpec> tools() {
        ToolSpec lookup = BatchShape.tool(
                "chaos_lookup",
                "Look up notes on a topic.",
                "{\"type\":\"object\",\"properties\":{\"topic\":{\"type\":\"string\"}},\"required\":[\"topic\"]}",
                10_000,
                false,
                0);
        ToolSpec fetch = BatchShape.tool(
                "chaos_fetch",
                "Fetch the record for a key.",
                "{\"type\":\"object\",\"properties\":{\"key\":{\"type\":\"string\"}},\"required\":[\"key\"]}",
                10_000,
                true,
                CACHE_TTL_MS);
        return List.of(lookup, fetch);
    }
}
