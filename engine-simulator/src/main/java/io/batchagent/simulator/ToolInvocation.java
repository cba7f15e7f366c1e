package io.batchagent.simulator;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Objects;

/**
 * The tool call the scripted model answers with.
 *
 * @param name the function to call; need not be one of the offered tools (a real model can do
 *     that too)
 * @param arguments the arguments object, serialised compactly into {@code function.arguments}
 */
public record ToolInvocation(String name, ObjectNode arguments) {

    public ToolInvocation {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(arguments, "arguments");
    }
}
