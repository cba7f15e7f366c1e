package io.batchagent.bench.tools;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.Map;

/**
 * The long-agent benchmark's tool: answers at once with a page of {@value #CHARS} characters about the
 * query (another length with the option {@code bench_page.chars}), the large output of a long agent's turns.
 */
public final class PageTool extends BenchTool {

    public static final String NAME = "bench_page";
    public static final int CHARS = 8 * 1024;

    private volatile int chars = CHARS;

    public PageTool() {
        super(Duration.ZERO);
    }

    /** Options {@code latency.ms} (as every bench tool) and {@code chars}, the page's length. */
    @Override
    public void configure(Map<String, String> options) {
        super.configure(options);
        String value = options.get("chars");
        if (value != null) {
            chars = Integer.parseInt(value.trim());
        }
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String description() {
        return "Fetch a page about a query.";
    }

    @Override
    protected String keyArgument() {
        return "query";
    }

    @Override
    protected String output(String key, JsonNode arguments) {
        String line = "Page about " + key + ": facts, figures, quotes and more facts. ";
        return line.repeat(chars / line.length() + 1).substring(0, chars);
    }
}
