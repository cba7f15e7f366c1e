package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.CompactionMode;
import io.batchagent.events.CompactionPolicy;
import io.batchagent.events.Role;
import io.batchagent.events.ToolCallRef;
import io.batchagent.schemas.RecordLimits;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.services.bedrockruntime.model.ContentBlock;
import software.amazon.awssdk.services.bedrockruntime.model.Message;

class ConversationCompactorTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int OUTPUT_CHARS = 8 * 1024;

    static {
        io.batchagent.schemas.serde.EventSerdes.trustEventClasses(); // for the policies' builders
    }

    private final ScriptedEngineClient engine = new ScriptedEngineClient();
    private final ConversationCompactor compactor = new ConversationCompactor(engine, RecordLimits.defaults());

    @Test
    void shouldCutOldToolResultsWithAMarkerAndKeepTheRecentTurnsIntact() {
        PreparedBatch batch = batch(CompactionMode.TRUNCATE, 16_384);
        List<ChatMessage> messages = conversation(6);

        ConversationCompactor.Fitted fitted =
                compactor.fit(turnOf(messages), batch).join();

        assertThat(fitted.exhausted()).isNull();
        assertThat(fitted.summaryCall()).isNull();
        assertThat(engine.requests()).isEmpty();
        List<ChatMessage> tools = toolMessages(fitted.messages());
        for (ChatMessage old : tools.subList(0, 4)) {
            assertThat(old.getContent())
                    .startsWith("[compacted: " + (OUTPUT_CHARS - 200) + " of " + OUTPUT_CHARS + " characters cut]\n")
                    .hasSize(200 + ("[compacted: 7992 of 8192 characters cut]\n").length());
        }
        assertThat(tools.subList(4, 6))
                .allSatisfy(recent -> assertThat(recent.getContent()).hasSize(OUTPUT_CHARS));
        assertThat(fitted.messages().get(0)).isEqualTo(messages.get(0));
        assertThat(fitted.messages()).hasSameSizeAs(messages);
        assertThat(fitted.compaction().getMode()).isEqualTo(CompactionMode.TRUNCATE);
        assertThat(fitted.compaction().getTurnsCompacted()).isEqualTo(4);
        assertThat(fitted.compaction().getTokensAfter())
                .isLessThan(fitted.compaction().getTokensBefore() / 2);
    }

    @Test
    void shouldNotCompactBelowTheThresholdWhateverTheTurnNumber() {
        PreparedBatch batch = batch(CompactionMode.TRUNCATE, 1_000_000);
        List<ChatMessage> messages = conversation(6);

        ConversationCompactor.Fitted fitted =
                compactor.fit(turnOf(messages), batch).join();

        assertThat(fitted.messages()).isSameAs(messages);
        assertThat(fitted.compaction()).isNull();
        assertThat(fitted.exhausted()).isNull();
    }

    @Test
    void shouldCompactEachResultOnlyOnce() {
        PreparedBatch batch = batch(CompactionMode.TRUNCATE, 16_384);
        List<ChatMessage> once =
                compactor.fit(turnOf(conversation(6)), batch).join().messages();

        ConversationCompactor.Fitted again = compactor.fit(turnOf(once), batch).join();

        assertThat(again.compaction()).isNull();
        assertThat(again.messages()).isSameAs(once);
    }

    @Test
    void shouldReplaceOldResultsWithOneSummaryFromTheEngineAtContinuingPriority() {
        PreparedBatch batch = batch(CompactionMode.SUMMARIZE, 16_384);
        engine.answerAll(ScriptedEngineClient.answer("The searches found the city and its population, 12345."));
        List<ChatMessage> messages = conversation(6);

        ConversationCompactor.Fitted fitted =
                compactor.fit(turnOf(messages), batch).join();

        assertThat(engine.requests()).hasSize(1);
        ChatRequest summary = engine.requests().get(0);
        assertThat(summary.prompt().hints().priority()).isEqualTo(SchedulingHints.CONTINUING_AGENT);
        List<ChatMessage> asked = summary.prompt().messages();
        assertThat(asked.get(asked.size() - 1).getContent()).startsWith(ConversationCompactor.SUMMARY_INSTRUCTION);
        List<ChatMessage> tools = toolMessages(fitted.messages());
        assertThat(tools.get(0).getContent())
                .isEqualTo("[compacted: summary of 4 earlier tool results]\n"
                        + "The searches found the city and its population, 12345.");
        assertThat(tools.subList(1, 4))
                .allSatisfy(old -> assertThat(old.getContent())
                        .isEqualTo("[compacted: 8192 characters, summarized in the result of call call_1]"));
        assertThat(tools.subList(4, 6))
                .allSatisfy(recent -> assertThat(recent.getContent()).hasSize(OUTPUT_CHARS));
        assertThat(fitted.compaction().getMode()).isEqualTo(CompactionMode.SUMMARIZE);
        assertThat(fitted.summaryCall().usage().promptTokens()).isEqualTo(100);
    }

    @Test
    void shouldFallBackToTruncateWhenTheSummaryCallFails() {
        PreparedBatch batch = batch(CompactionMode.SUMMARIZE, 16_384);
        engine.answerAll(ChatResponse.failed(EngineFailure.http(500, "HTTP 500: boom", false), 5));

        ConversationCompactor.Fitted fitted =
                compactor.fit(turnOf(conversation(6)), batch).join();

        assertThat(fitted.compaction().getMode()).isEqualTo(CompactionMode.TRUNCATE);
        assertThat(fitted.compaction().getDetail()).contains("summary failed, truncated instead: HTTP 500: boom");
        assertThat(toolMessages(fitted.messages()).get(0).getContent())
                .startsWith("[compacted: 7992 of 8192 characters cut]");
        assertThat(fitted.exhausted()).isNull();
    }

    @Test
    void shouldFallBackToTruncateWhenTheModelCallsAToolInsteadOfSummarizing() {
        PreparedBatch batch = batch(CompactionMode.SUMMARIZE, 16_384);
        engine.answerAll(
                ScriptedEngineClient.toolCalls(new RequestedToolCall("c9", "web_search", "{\"query\":\"x\"}")));

        ConversationCompactor.Fitted fitted =
                compactor.fit(turnOf(conversation(6)), batch).join();

        assertThat(fitted.compaction().getMode()).isEqualTo(CompactionMode.TRUNCATE);
        assertThat(fitted.compaction().getDetail()).contains("asked for tools");
    }

    @Test
    void shouldSayTheSizesWhenTheConversationCannotBeBroughtUnderTheContext() {
        PreparedBatch none = batch(CompactionMode.NONE, 8_192);

        ConversationCompactor.Fitted fitted =
                compactor.fit(turnOf(conversation(6)), none).join();

        assertThat(fitted.exhausted())
                .startsWith("the conversation of turn 7 is ~")
                .contains("prompt tokens (estimated), over the model's 8192-token context window")
                .contains("compaction is off (mode NONE)");
        assertThat(fitted.compaction()).isNull();
    }

    @Test
    void shouldEndAJobOverThePerJobConversationBudgetEvenAfterCompaction() {
        PreparedBatch batch = batch(
                CompactionPolicy.newBuilder()
                        .setMode(CompactionMode.TRUNCATE)
                        .setMaxConversationBytes(12_000)
                        .build(),
                0);

        ConversationCompactor.Fitted fitted =
                compactor.fit(turnOf(conversation(6)), batch).join();

        assertThat(fitted.compaction().getTurnsCompacted()).isEqualTo(4);
        assertThat(fitted.exhausted())
                .contains("bytes of conversation, over the per-job budget of 12000 bytes")
                .contains("after compacting 4 tool turns (TRUNCATE)");
    }

    @Test
    void shouldKeepEveryToolCallPairedWithItsResultInEveryDialect() throws IOException {
        engine.answerAll(ScriptedEngineClient.answer("summary"));
        for (CompactionMode mode : List.of(CompactionMode.TRUNCATE, CompactionMode.SUMMARIZE)) {
            PreparedBatch batch = batch(mode, 16_384);
            List<ChatMessage> compacted = compactor
                    .fit(turnOf(parallelCallConversation(5)), batch)
                    .join()
                    .messages();
            assertThat(toolMessages(compacted).get(0).getContent()).startsWith(ConversationCompactor.MARKER);

            // OpenAI-compatible engines: assistant tool_calls[].id, then tool messages' tool_call_id.
            JsonNode body = JSON.readTree(SharedPrefix.of(batch.spec()).render(compacted));
            List<String> calls = new ArrayList<>();
            List<String> results = new ArrayList<>();
            for (JsonNode message : body.get("messages")) {
                message.path("tool_calls")
                        .forEach(call -> calls.add(call.get("id").asText()));
                if (message.path("role").asText().equals("tool")) {
                    results.add(message.get("tool_call_id").asText());
                }
            }
            assertPaired(mode + " openai", calls, results);

            // Anthropic: tool_use blocks' id, then tool_result blocks' tool_use_id.
            calls.clear();
            results.clear();
            for (JsonNode message : AnthropicMessages.messages(compacted)) {
                for (JsonNode block : message.path("content")) {
                    if (block.path("type").asText().equals("tool_use")) {
                        calls.add(block.get("id").asText());
                    } else if (block.path("type").asText().equals("tool_result")) {
                        results.add(block.get("tool_use_id").asText());
                    }
                }
            }
            assertPaired(mode + " anthropic", calls, results);

            // Bedrock Converse: toolUse blocks' toolUseId, then toolResult blocks' toolUseId.
            calls.clear();
            results.clear();
            for (Message message : BedrockConverseClient.messages(compacted)) {
                for (ContentBlock block : message.content()) {
                    if (block.toolUse() != null) {
                        calls.add(block.toolUse().toolUseId());
                    } else if (block.toolResult() != null) {
                        results.add(block.toolResult().toolUseId());
                    }
                }
            }
            assertPaired(mode + " bedrock", calls, results);
        }
    }

    /** Every call has exactly one result, after it, and every result answers a call: no orphaned ids. */
    private static void assertPaired(String dialect, List<String> calls, List<String> results) {
        assertThat(calls).as(dialect + " calls").hasSize(10).doesNotHaveDuplicates();
        assertThat(results).as(dialect + " results").containsExactlyElementsOf(calls);
    }

    private static PreparedBatch batch(CompactionMode mode, int contextTokens) {
        return batch(CompactionPolicy.newBuilder().setMode(mode).build(), contextTokens);
    }

    private static PreparedBatch batch(CompactionPolicy policy, int contextTokens) {
        BatchSpec spec = BatchSpec.newBuilder(Fixtures.spec("b1"))
                .setContextTokens(contextTokens)
                .setCompaction(policy)
                .build();
        return PreparedBatch.of(spec);
    }

    private static AgentTurn turnOf(List<ChatMessage> messages) {
        int toolTurns = (int)
                messages.stream().filter(m -> m.getRole() == Role.ASSISTANT).count();
        return Fixtures.turn("j1", "b1", toolTurns + 1, messages, 2_000);
    }

    /** The task, then {@code toolTurns} turns of one call each with an 8 KB result. */
    private static List<ChatMessage> conversation(int toolTurns) {
        List<ChatMessage> messages = new ArrayList<>();
        messages.add(Fixtures.user("Find the population of Springfield."));
        for (int t = 1; t <= toolTurns; t++) {
            messages.add(assistant(call("call_" + t)));
            messages.add(result("call_" + t, t));
        }
        return messages;
    }

    /** The task, then {@code toolTurns} turns of two parallel calls each. */
    private static List<ChatMessage> parallelCallConversation(int toolTurns) {
        List<ChatMessage> messages = new ArrayList<>();
        messages.add(Fixtures.user("Find the population of Springfield."));
        for (int t = 1; t <= toolTurns; t++) {
            messages.add(assistant(call("call_" + t + "a"), call("call_" + t + "b")));
            messages.add(result("call_" + t + "a", t));
            messages.add(result("call_" + t + "b", t));
        }
        return messages;
    }

    private static ToolCallRef call(String id) {
        return new ToolCallRef(id, "web_search", "{\"query\":\"springfield " + id + "\"}", "hash-" + id);
    }

    private static ChatMessage assistant(ToolCallRef... calls) {
        return ChatMessage.newBuilder()
                .setRole(Role.ASSISTANT)
                .setContent(null)
                .setToolCalls(List.of(calls))
                .build();
    }

    private static ChatMessage result(String callId, int turn) {
        return ChatMessage.newBuilder()
                .setRole(Role.TOOL)
                .setToolCallId(callId)
                .setContent(("page " + turn + " ").repeat(OUTPUT_CHARS).substring(0, OUTPUT_CHARS))
                .build();
    }

    private static List<ChatMessage> toolMessages(List<ChatMessage> messages) {
        return messages.stream().filter(m -> m.getRole() == Role.TOOL).toList();
    }
}
