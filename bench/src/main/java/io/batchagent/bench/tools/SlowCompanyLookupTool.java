package io.batchagent.bench.tools;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;

/** W2's {@code slow_company_lookup}: 800 ms of deterministic latency, a fixed text per query. SIMULATED. */
public final class SlowCompanyLookupTool extends BenchTool {

    public SlowCompanyLookupTool() {
        super(Duration.ofMillis(800));
    }

    @Override
    public String name() {
        return "slow_company_lookup";
    }

    @Override
    public String description() {
        return "Look up shared KV-cache research notes for a query (slow).";
    }

    @Override
    protected String keyArgument() {
        return "query";
    }

    @Override
    protected String output(String key, JsonNode arguments) {
        return "Lookup " + key + ": 3 sources on shared KV cache reuse across agents; prefix caching and "
                + "request coalescing reduce repeated prefill and tool work.";
    }
}
