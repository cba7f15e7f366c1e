package io.batchagent.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.events.ToolSpec;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;

/** A TEST tool whose every answer is a {@value #OUTPUT_CHARS}-character page, the shape of a long agent's tool turns. */
public final class BulkyTool implements Tool {

    static final String NAME = "bulky_page";
    static final int OUTPUT_CHARS = 8 * 1024;

    static ToolSpec spec() {
        return ToolSpec.newBuilder()
                .setName(NAME)
                .setDescription("TEST tool: an 8 KB page about the query.")
                .setParametersJson(
                        "{\"properties\":{\"query\":{\"type\":\"string\"}},\"required\":[\"query\"],\"type\":\"object\"}")
                .setTimeoutMs(30_000)
                .build();
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String execute(JsonNode arguments, ToolContext context) {
        String line = "A page about " + arguments.path("query").asText() + ": facts, figures and more facts. ";
        return line.repeat(OUTPUT_CHARS / line.length() + 1).substring(0, OUTPUT_CHARS);
    }
}
