package io.batchagent.simulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.util.Objects;

/**
 * A function tool offered in a request's {@code tools} array.
 *
 * @param name {@code function.name}
 * @param description {@code function.description}, empty when absent
 * @param parameters {@code function.parameters} (a JSON Schema); an empty object when absent
 */
public record ToolSpec(String name, String description, JsonNode parameters) {

    public ToolSpec {
        Objects.requireNonNull(name, "name");
        description = description == null ? "" : description;
        parameters = parameters == null || parameters.isNull() ? JsonNodeFactory.instance.objectNode() : parameters;
    }
}
