package io.batchagent.tools;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolSpec;
import io.batchagent.schemas.CallHash;

/** Tools and calls for tests. */
final class TestTools {

    /** The body of a test tool. */
    @FunctionalInterface
    interface Body {
        String execute(JsonNode arguments, ToolContext context) throws Exception;
    }

    private TestTools() {}

    static Tool tool(String name, Body body) {
        return new Tool() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public String execute(JsonNode arguments, ToolContext context) throws Exception {
                return body.execute(arguments, context);
            }
        };
    }

    static ToolSpec.Builder spec(String name) {
        return ToolSpec.newBuilder().setName(name);
    }

    static ToolCall call(ToolSpec spec, String argumentsJson) {
        return ToolCall.newBuilder()
                .setCallHash(CallHash.of(spec.getName(), argumentsJson))
                .setBatchId("batch-1")
                .setTool(spec)
                .setArgumentsJson(argumentsJson)
                .setDispatchedAtMs(System.currentTimeMillis())
                .build();
    }

    static ToolCall call(String tool, String argumentsJson) {
        return call(spec(tool).build(), argumentsJson);
    }
}
