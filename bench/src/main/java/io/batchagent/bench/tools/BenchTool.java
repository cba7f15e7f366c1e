package io.batchagent.bench.tools;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A deterministic benchmark tool: it waits a fixed latency (option {@code <name>.latency.ms}), then
 * returns a text that depends only on its key argument, and records the execution in the
 * {@link ToolLedger}. SIMULATED: no network, no real data. Thread-safe.
 */
public abstract class BenchTool implements Tool {

    private volatile Duration latency;

    protected BenchTool(Duration defaultLatency) {
        this.latency = defaultLatency;
    }

    /** The argument whose value identifies a call (and the output). */
    protected abstract String keyArgument();

    /** The output for {@code key}: a pure function of the arguments. */
    protected abstract String output(String key, JsonNode arguments);

    @Override
    public String parametersJson() {
        return "{\"type\":\"object\",\"properties\":{\"" + keyArgument() + "\":{\"type\":\"string\"}},"
                + "\"required\":[\"" + keyArgument() + "\"]}";
    }

    /** Option {@code latency.ms}: whole milliseconds, 0 or more. */
    @Override
    public void configure(Map<String, String> options) {
        String value = options.get("latency.ms");
        if (value != null) {
            long millis = Long.parseLong(value.trim());
            if (millis < 0) {
                throw new IllegalArgumentException("latency.ms must not be negative, got " + millis);
            }
            latency = Duration.ofMillis(millis);
        }
    }

    public Duration latency() {
        return latency;
    }

    @Override
    public String execute(JsonNode arguments, ToolContext context) throws InterruptedException {
        return run(arguments);
    }

    /** Runs one call outside a tool worker (the raw loop's direct execution). */
    public String run(JsonNode arguments) throws InterruptedException {
        long start = System.nanoTime();
        JsonNode keyNode = arguments == null ? null : arguments.get(keyArgument());
        if (keyNode == null || !keyNode.isTextual()) {
            throw new IllegalArgumentException(name() + " needs a string '" + keyArgument() + "'");
        }
        String key = keyNode.asText();
        Duration wait = latency;
        if (!wait.isZero()) {
            TimeUnit.NANOSECONDS.sleep(wait.toNanos()); // the simulated remote call
        }
        String text = output(key, arguments);
        ToolLedger.record(name(), key, start, System.nanoTime());
        return text;
    }
}
