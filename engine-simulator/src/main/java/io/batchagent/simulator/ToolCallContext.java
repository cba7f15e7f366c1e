package io.batchagent.simulator;

import java.util.List;
import java.util.Objects;

/**
 * What a {@link ToolCallRule} sees of a request.
 *
 * @param tools the offered tools, in request order (only the named one when {@code tool_choice}
 *     names a function); never empty
 * @param messages the conversation, in order
 */
public record ToolCallContext(List<ToolSpec> tools, List<ChatMessage> messages) {

    public ToolCallContext {
        tools = List.copyOf(Objects.requireNonNull(tools, "tools"));
        messages = List.copyOf(Objects.requireNonNull(messages, "messages"));
    }

    /** Content of the last message with role {@code user}, or "" when there is none. */
    public String lastUserMessage() {
        for (int i = messages.size() - 1; i >= 0; i--) {
            if (messages.get(i).role().equals("user")) {
                return messages.get(i).content();
            }
        }
        return "";
    }

    /** Content of the first message with role {@code user}, or "" when there is none. */
    public String firstUserMessage() {
        return messages.stream()
                .filter(m -> m.role().equals("user"))
                .map(ChatMessage::content)
                .findFirst()
                .orElse("");
    }
}
