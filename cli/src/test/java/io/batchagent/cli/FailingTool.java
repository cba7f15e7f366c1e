package io.batchagent.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;

/** A TEST tool that always throws, to prove a throwing tool fails only its own call. */
public final class FailingTool implements Tool {

    @Override
    public String name() {
        return "always_fails";
    }

    @Override
    public String execute(JsonNode arguments, ToolContext context) {
        throw new IllegalStateException(
                "always_fails was asked for " + arguments.path("query").asText());
    }
}
