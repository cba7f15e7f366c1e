package io.batchagent.inference;

import io.batchagent.events.AgentTurn;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.OutputRef;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Reads back the tool outputs that travel by reference ({@link OutputRef}, see
 * {@code io.batchagent.schemas.OutputRefs}): the inference worker needs every message's content to build
 * a prompt, and the records of a conversation carry only the references. Implementations are thread-safe.
 */
interface ToolOutputs extends AutoCloseable {

    /** A reader that has none to read: every reference fails (for workers built without Kafka access, in tests). */
    static ToolOutputs none() {
        return ref -> CompletableFuture.failedFuture(
                new UnreadableOutputException(ref, "this worker has no reader for tool outputs held by reference"));
    }

    /** The output at {@code ref}; fails with an {@link UnreadableOutputException} when it cannot be read. */
    CompletableFuture<String> read(OutputRef ref);

    @Override
    default void close() {}

    /**
     * {@code turn} with the content of every message that holds a reference filled in (the reference is
     * kept, so that {@link #onTheWire} can take the content out again); {@code turn} itself when none does.
     */
    default CompletableFuture<AgentTurn> hydrate(AgentTurn turn) {
        List<ChatMessage> messages = turn.getMessages();
        List<CompletableFuture<ChatMessage>> filled = new ArrayList<>(messages.size());
        boolean any = false;
        for (ChatMessage message : messages) {
            if (message.getContentRef() != null && message.getContent() == null) {
                any = true;
                filled.add(read(message.getContentRef())
                        .thenApply(content -> ChatMessage.newBuilder(message)
                                .setContent(content)
                                .build()));
            } else {
                filled.add(CompletableFuture.completedFuture(message));
            }
        }
        if (!any) {
            return CompletableFuture.completedFuture(turn);
        }
        return CompletableFuture.allOf(filled.toArray(CompletableFuture[]::new))
                .thenApply(ignored -> AgentTurn.newBuilder(turn)
                        .setMessages(
                                filled.stream().map(CompletableFuture::join).toList())
                        .build());
    }

    /**
     * {@code messages} as they go on a topic: a message that still holds a reference carries no content
     * (whoever changes a referenced message's content, as compaction does, drops its reference).
     */
    static List<ChatMessage> onTheWire(List<ChatMessage> messages) {
        List<ChatMessage> wire = null;
        for (int i = 0; i < messages.size(); i++) {
            ChatMessage message = messages.get(i);
            if (message.getContentRef() != null && message.getContent() != null) {
                if (wire == null) {
                    wire = new ArrayList<>(messages);
                }
                wire.set(i, ChatMessage.newBuilder(message).setContent(null).build());
            }
        }
        return wire == null ? messages : wire;
    }

    /** A referenced tool output that could not be read: gone from its topic, undecodable, or the read timed out. */
    final class UnreadableOutputException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        UnreadableOutputException(OutputRef ref, String why) {
            super("the tool output at " + ref.getTopic() + "-" + ref.getPartition() + "@" + ref.getOffset() + " ("
                    + ref.getChars() + " characters) cannot be read: " + why);
        }
    }
}
