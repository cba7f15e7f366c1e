package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.CompactionMode;
import io.batchagent.events.CompactionPolicy;
import io.batchagent.events.OutputRef;
import io.batchagent.events.Role;
import io.batchagent.events.ToolCallRef;
import io.batchagent.schemas.RecordLimits;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * A conversation whose tool outputs are held by reference: the worker fills them in for the prompt and the
 * compactor, and takes them out again for the wire, except where compaction changed a message (then its
 * shorter content travels inline, so the compaction is not undone by reading the output back).
 */
class ToolOutputsTest {

    private static final int OUTPUT_CHARS = 8 * 1024;

    private final Map<OutputRef, String> store = new ConcurrentHashMap<>();
    private final ToolOutputs outputs = ref -> store.containsKey(ref)
            ? CompletableFuture.completedFuture(store.get(ref))
            : CompletableFuture.failedFuture(new ToolOutputs.UnreadableOutputException(ref, "not in the test store"));

    @Test
    void shouldFillInReferencedOutputsAndTakeThemOutForTheWire() {
        AgentTurn turn = turnOf(conversation(3));

        AgentTurn whole = outputs.hydrate(turn).join();

        assertThat(whole.getMessages())
                .filteredOn(m -> m.getRole() == Role.TOOL)
                .allSatisfy(m -> {
                    assertThat(m.getContent()).hasSize(OUTPUT_CHARS);
                    assertThat(m.getContentRef()).isNotNull();
                });
        assertThat(ToolOutputs.onTheWire(whole.getMessages())).isEqualTo(turn.getMessages());
        assertThat(outputs.hydrate(turnOf(List.of(Fixtures.user("no tools yet")))))
                .isCompleted();
    }

    @Test
    void shouldKeepACompactedMessageInlineAndTheOthersByReference() {
        AgentTurn whole = outputs.hydrate(turnOf(conversation(6))).join();
        ConversationCompactor compactor =
                new ConversationCompactor(new ScriptedEngineClient(), RecordLimits.defaults());
        PreparedBatch batch = PreparedBatch.of(BatchSpec.newBuilder(Fixtures.spec("b1"))
                .setContextTokens(16_384)
                .setCompaction(CompactionPolicy.newBuilder()
                        .setMode(CompactionMode.TRUNCATE)
                        .build())
                .build());

        List<ChatMessage> wire =
                ToolOutputs.onTheWire(compactor.fit(whole, batch).join().messages());

        List<ChatMessage> tools =
                wire.stream().filter(m -> m.getRole() == Role.TOOL).toList();
        assertThat(tools.subList(0, 4)).allSatisfy(compacted -> {
            assertThat(compacted.getContentRef()).isNull();
            assertThat(compacted.getContent()).startsWith("[compacted: ");
        });
        assertThat(tools.subList(4, 6)).allSatisfy(recent -> {
            assertThat(recent.getContent()).isNull();
            assertThat(recent.getContentRef()).isNotNull();
        });
    }

    @Test
    void shouldFailTheTurnWhenAnOutputCannotBeRead() {
        AgentTurn turn = turnOf(conversation(1));
        store.clear();
        assertThatThrownBy(() -> outputs.hydrate(turn).join())
                .isInstanceOf(CompletionException.class)
                .hasCauseInstanceOf(ToolOutputs.UnreadableOutputException.class)
                .hasMessageContaining("tool-results-0@1");
    }

    /** The task, then {@code toolTurns} turns of one call each, its 8 KB result held by reference. */
    private List<ChatMessage> conversation(int toolTurns) {
        List<ChatMessage> messages = new ArrayList<>();
        messages.add(Fixtures.user("Find the population of Springfield."));
        for (int t = 1; t <= toolTurns; t++) {
            OutputRef ref = OutputRef.newBuilder()
                    .setTopic("tool-results")
                    .setPartition(0)
                    .setOffset(t)
                    .setChars(OUTPUT_CHARS)
                    .build();
            store.put(ref, ("page " + t + " ").repeat(OUTPUT_CHARS).substring(0, OUTPUT_CHARS));
            ToolCallRef call = new ToolCallRef("call_" + t, "web_search", "{\"query\":\"q" + t + "\"}", "hash-" + t);
            messages.add(ChatMessage.newBuilder()
                    .setRole(Role.ASSISTANT)
                    .setContent(null)
                    .setToolCalls(List.of(call))
                    .build());
            messages.add(ChatMessage.newBuilder()
                    .setRole(Role.TOOL)
                    .setToolCallId("call_" + t)
                    .setContent(null)
                    .setContentRef(ref)
                    .build());
        }
        return messages;
    }

    private static AgentTurn turnOf(List<ChatMessage> messages) {
        int toolTurns = (int)
                messages.stream().filter(m -> m.getRole() == Role.ASSISTANT).count();
        return Fixtures.turn("j1", "b1", toolTurns + 1, messages, 2_000);
    }
}
