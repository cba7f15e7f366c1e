package io.batchagent.simulator;

import java.util.List;
import java.util.Objects;

/**
 * One message of a chat-completion request as the simulator reads it.
 *
 * @param role {@code system}, {@code developer}, {@code user}, {@code assistant} or {@code tool}
 * @param content the text content; an array of content parts is flattened to its text parts;
 *     empty when absent or null
 * @param toolCalls tool calls of an assistant message, in order; empty otherwise
 * @param toolCallId the {@code tool_call_id} of a tool message, or null
 */
public record ChatMessage(String role, String content, List<ToolCallMessage> toolCalls, String toolCallId) {

    public ChatMessage {
        Objects.requireNonNull(role, "role");
        content = content == null ? "" : content;
        toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
    }

    /**
     * A tool call as it appears in an assistant message.
     *
     * @param id the call id
     * @param name the function name
     * @param arguments the arguments JSON text, exactly as sent
     */
    public record ToolCallMessage(String id, String name, String arguments) {}
}
