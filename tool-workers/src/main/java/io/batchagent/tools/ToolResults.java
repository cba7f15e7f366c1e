package io.batchagent.tools;

import io.batchagent.events.ToolResult;

/** Helpers for {@link ToolResult}s. */
final class ToolResults {

    private ToolResults() {}

    /**
     * A builder holding every field of {@code result}. Field by field rather than
     * {@code ToolResult.newBuilder(result)}, whose deep copy loads the {@code ToolStatus} class by
     * name and so fails Avro 1.12's class-security check unless something else has trusted the
     * events package first. Every field is immutable, so this is a full copy.
     */
    static ToolResult.Builder copyOf(ToolResult result) {
        return ToolResult.newBuilder()
                .setCallHash(result.getCallHash())
                .setTool(result.getTool())
                .setStatus(result.getStatus())
                .setOutput(result.getOutput())
                .setError(result.getError())
                .setExecuted(result.getExecuted())
                .setStartedAtMs(result.getStartedAtMs())
                .setFinishedAtMs(result.getFinishedAtMs())
                .setBatchSize(result.getBatchSize());
    }
}
