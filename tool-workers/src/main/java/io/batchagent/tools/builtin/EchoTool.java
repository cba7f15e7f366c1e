package io.batchagent.tools.builtin;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;

/** {@code echo}: returns its {@code text} argument unchanged. For wiring checks and tests. Thread-safe. */
public final class EchoTool implements Tool {

    public static final String NAME = "echo";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String description() {
        return "Returns the given text unchanged.";
    }

    @Override
    public String parametersJson() {
        return "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},\"required\":[\"text\"]}";
    }

    /** @throws IllegalArgumentException if {@code text} is missing or not a string */
    @Override
    public String execute(JsonNode arguments, ToolContext context) {
        JsonNode text = arguments.path("text");
        if (!text.isTextual()) {
            throw new IllegalArgumentException("echo needs a string argument 'text'");
        }
        return text.textValue();
    }
}
