package io.batchagent.tools.builtin;

import com.fasterxml.jackson.databind.JsonNode;

/** Reading the arguments of the built-in tools, with errors that tell the model what to fix. */
final class Arguments {

    private Arguments() {}

    static String requiredText(JsonNode arguments, String tool, String name) {
        JsonNode value = arguments.path(name);
        if (!value.isTextual() || value.textValue().isBlank()) {
            throw new IllegalArgumentException(tool + " needs a non-empty string argument '" + name + "'");
        }
        return value.textValue();
    }

    static int optionalInt(JsonNode arguments, String tool, String name, int defaultValue, int min, int max) {
        JsonNode value = arguments.path(name);
        if (value.isMissingNode() || value.isNull()) {
            return defaultValue;
        }
        if (!value.canConvertToExactIntegral()
                || !value.canConvertToInt()
                || value.asInt() < min
                || value.asInt() > max) {
            throw new IllegalArgumentException(
                    tool + " argument '" + name + "' must be an integer from " + min + " to " + max + ", got " + value);
        }
        return value.asInt();
    }
}
