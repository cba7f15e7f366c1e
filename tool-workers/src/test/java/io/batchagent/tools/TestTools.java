package io.batchagent.tools;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolSpec;
import io.batchagent.schemas.CallHash;
import java.util.concurrent.CountDownLatch;

/** Tools and calls for tests. */
public final class TestTools {

    /** The body of a test tool. */
    @FunctionalInterface
    public interface Body {
        String execute(JsonNode arguments, ToolContext context) throws Exception;
    }

    private TestTools() {}

    public static Tool tool(String name, Body body) {
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

    /**
     * A tool that blocks until interrupted: it counts {@code started} down when it runs and
     * {@code interrupted} when the interruption comes, then rethrows it.
     */
    static Tool hangsUntilInterrupted(String name, CountDownLatch started, CountDownLatch interrupted) {
        return tool(name, (args, ctx) -> {
            started.countDown();
            try {
                new CountDownLatch(1).await(); // never released: only an interruption ends it
                return "unreachable";
            } catch (InterruptedException e) {
                interrupted.countDown();
                throw e;
            }
        });
    }

    static ToolSpec.Builder spec(String name) {
        return ToolSpec.newBuilder().setName(name);
    }

    static ToolCall call(ToolSpec spec, String argumentsJson) {
        return ToolCall.newBuilder()
                .setCallHash(CallHash.ofCall(spec, argumentsJson))
                .setBatchId("batch-1")
                .setTool(spec)
                .setArgumentsJson(argumentsJson)
                .setDispatchedAtMs(System.currentTimeMillis())
                .build();
    }

    /** A call dispatched {@code queuedMs} ago whose deadline is {@code dueInMs} from now (negative: passed). */
    static ToolCall queued(ToolSpec spec, String argumentsJson, long queuedMs, long dueInMs) {
        long now = System.currentTimeMillis();
        return ToolCall.newBuilder(call(spec, argumentsJson))
                .setDispatchedAtMs(now - queuedMs)
                .setDeadlineMs(now + dueInMs)
                .build();
    }

    static ToolCall call(String tool, String argumentsJson) {
        return call(spec(tool).build(), argumentsJson);
    }
}
