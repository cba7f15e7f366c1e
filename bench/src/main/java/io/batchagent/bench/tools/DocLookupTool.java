package io.batchagent.bench.tools;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;

/** W4's document lookup: 1 ms of latency, a fixed text per document id, declared non-cacheable. SIMULATED. */
public final class DocLookupTool extends BenchTool {

    public DocLookupTool() {
        super(Duration.ofMillis(1));
    }

    @Override
    public String name() {
        return "doc_lookup";
    }

    @Override
    public String description() {
        return "Fetch a document by id.";
    }

    @Override
    protected String keyArgument() {
        return "doc_id";
    }

    @Override
    protected String output(String key, JsonNode arguments) {
        return "Document " + key + ": fixed benchmark content.";
    }
}
