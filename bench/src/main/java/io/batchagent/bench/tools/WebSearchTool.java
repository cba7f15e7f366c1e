package io.batchagent.bench.tools;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;

/**
 * W1's search tool, as the Python original's benchmark {@code web_search}: 400 ms of deterministic latency,
 * then a short fixed text echoing the query. SIMULATED.
 */
public final class WebSearchTool extends BenchTool {

    /**
     * Not the original's {@code web_search}: the tool workers ship a real {@code web_search} (SearXNG),
     * and tool names are unique per worker.
     */
    public static final String NAME = "bench_web_search";

    public WebSearchTool() {
        super(Duration.ofMillis(400));
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String description() {
        return "Search the web for recent context on a topic.";
    }

    @Override
    protected String keyArgument() {
        return "query";
    }

    @Override
    public String parametersJson() {
        return "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"},"
                + "\"num_results\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10,\"default\":5}},"
                + "\"required\":[\"query\"]}";
    }

    @Override
    protected String output(String key, JsonNode arguments) {
        int n = arguments.path("num_results").asInt(5);
        return "Search results for \"" + key + "\" (" + n + " sources): recent work on " + key
                + " reports steady progress; see the cited surveys for details.";
    }
}
