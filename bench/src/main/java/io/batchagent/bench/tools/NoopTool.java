package io.batchagent.bench.tools;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;

/** The scale benchmark's tool: answers at once with a short text per key, so tool time is negligible. */
public final class NoopTool extends BenchTool {

    public NoopTool() {
        super(Duration.ZERO);
    }

    @Override
    public String name() {
        return "bench_noop";
    }

    @Override
    public String description() {
        return "Return the record for a key.";
    }

    @Override
    protected String keyArgument() {
        return "key";
    }

    @Override
    protected String output(String key, JsonNode arguments) {
        return "record " + key + ": ok";
    }
}
