package io.batchagent.inference;

import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.Compaction;
import io.batchagent.events.CompactionMode;
import io.batchagent.events.CompactionPolicy;
import io.batchagent.events.Role;
import io.batchagent.events.ToolCallRef;
import io.batchagent.schemas.RecordLimits;
import io.batchagent.schemas.serde.EventSerdes;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * Keeps an agent's conversation under its budgets before each model call, as its batch's
 * {@link CompactionPolicy} says (issue 13).
 *
 * <p>Triggered by size, never by turn number: compaction runs when the next prompt's estimated tokens
 * pass {@code contextFraction} of the batch's {@code contextTokens}, or the conversation's serialized size
 * passes {@code recordFraction} of the per-job conversation budget ({@code maxConversationBytes}, at most
 * the record budget's largest value, {@link RecordLimits#maxValueBytes()}).
 *
 * <p>What it touches: only the content of TOOL messages of tool turns (an assistant message with tool
 * calls and the results answering it) older than the last {@code keepTurns} tool turns, and only once
 * each. It never removes or reorders a message, nor changes an id, so every tool call keeps its result
 * in every engine dialect (no orphaned tool_call ids); the shared prefix is not in the conversation at
 * all, so its cache hits survive; the first user message and the most recent turns stay intact.
 * <ul>
 *   <li>TRUNCATE: each old result keeps its first {@code truncateChars} characters, followed by a marker
 *       that says how many were cut.
 *   <li>SUMMARIZE: one model call on the same engine (the agent's conversation plus
 *       {@link #SUMMARY_INSTRUCTION}, at continuing-agent priority, inside the turn's own in-flight slot)
 *       writes a summary; the first old result becomes the summary and the others a marker pointing to
 *       it. If the call fails, asks for tools, answers nothing or answers more than it would replace,
 *       the compaction falls back to TRUNCATE and says why.
 * </ul>
 * A conversation still over the budget, or over the context window, after compaction (or with mode
 * NONE) cannot go on: {@link Fitted#exhausted()} gives the sizes, for a FAILED CONTEXT_EXHAUSTED result.
 *
 * <p>The token estimate is conservative (one token per {@value #CHARS_PER_TOKEN} characters plus a
 * template allowance per message, as the job compiler's OVERSIZED check): real tokenizers average 3.5 to
 * 4.5 characters per token on English and JSON. Thread-safe and stateless apart from the engine client.
 */
final class ConversationCompactor {

    /** Starts every compacted tool result, so a result is never compacted twice. */
    static final String MARKER = "[compacted: ";
    /**
     * The user message that asks for a summary. The engine simulator answers a request whose last
     * message starts with it with a plain-text summary.
     */
    static final String SUMMARY_INSTRUCTION = "[compaction] Summarize what the results of these earlier tool calls "
            + "tell you that is still needed for your task:";
    /** How the detail of a compaction made because the engine refused the prompt begins. */
    static final String REFUSAL_DETAIL = "the engine refused the prompt as over its context window: ";

    static final int CHARS_PER_TOKEN = 3;
    private static final int TEMPLATE_TOKENS_PER_MESSAGE = 8;
    /** Avro framing of one message (role, unions, array and string lengths), counted generously. */
    private static final int BYTES_PER_MESSAGE = 24;

    private final EngineClient engine;
    private final RecordLimits limits;

    ConversationCompactor(EngineClient engine, RecordLimits limits) {
        this.engine = engine;
        this.limits = limits;
    }

    /**
     * What a turn goes on with.
     *
     * @param messages the conversation to send (the turn's own list when nothing changed)
     * @param compaction the compaction made, or null
     * @param summaryCall the summary call's answer (for its usage and time), or null when none was made
     * @param exhausted why the conversation cannot go on, with its sizes; null when it can
     */
    record Fitted(List<ChatMessage> messages, Compaction compaction, ChatResponse summaryCall, String exhausted) {}

    /** The size of a next prompt: estimated tokens and serialized conversation bytes. */
    record Size(long tokens, long bytes) {}

    /** The batch's policy; mode NONE with the defaults when it sets none. */
    static CompactionPolicy policy(BatchSpec spec) {
        return spec.getCompaction() != null ? spec.getCompaction() : NoCompaction.POLICY;
    }

    /** The schema's defaults, built once, on first use (never changed: Avro records are mutable). */
    private static final class NoCompaction {
        static final CompactionPolicy POLICY;

        static {
            // The defaults name an event enum, which Avro must trust first.
            EventSerdes.trustEventClasses();
            POLICY = CompactionPolicy.newBuilder().build();
        }
    }

    /** Fits {@code turn}'s conversation to its budgets before its model call; see the class contract. */
    CompletableFuture<Fitted> fit(AgentTurn turn, PreparedBatch batch) {
        return fit(turn, batch, null);
    }

    /**
     * Compacts {@code turn}'s conversation whatever its estimated size, because the engine refused it as
     * over the model's context window (the estimate was short): {@code refusal} says so in the record.
     */
    CompletableFuture<Fitted> fitAfterRefusal(AgentTurn turn, PreparedBatch batch, String refusal) {
        return fit(turn, batch, refusal);
    }

    private CompletableFuture<Fitted> fit(AgentTurn turn, PreparedBatch batch, String refusal) {
        CompactionPolicy policy = policy(batch.spec());
        List<ChatMessage> messages = turn.getMessages();
        Size before = size(batch, messages);
        if (policy.getMode() == CompactionMode.NONE
                || (refusal == null && !overThreshold(batch.spec(), policy, before))) {
            return CompletableFuture.completedFuture(checked(turn, batch, policy, messages, null, null, before));
        }
        List<Integer> old = oldToolResults(messages, Math.max(0, policy.getKeepTurns()), policy.getTruncateChars());
        if (old.isEmpty()) {
            return CompletableFuture.completedFuture(checked(turn, batch, policy, messages, null, null, before));
        }
        String why = refusal != null ? REFUSAL_DETAIL + refusal : reason(batch.spec(), policy, before);
        if (policy.getMode() == CompactionMode.TRUNCATE) {
            return CompletableFuture.completedFuture(truncated(turn, batch, policy, messages, old, before, why, null));
        }
        return summarize(turn, batch, messages, old).thenApply(call -> {
            String problem = summaryProblem(call, messages, old);
            if (problem != null) {
                return truncated(
                        turn,
                        batch,
                        policy,
                        messages,
                        old,
                        before,
                        why + "; summary failed, truncated instead: " + problem,
                        call);
            }
            List<ChatMessage> compacted =
                    withSummary(messages, old, call.content().strip());
            Size after = size(batch, compacted);
            return checked(
                    turn,
                    batch,
                    policy,
                    compacted,
                    compaction(turn, CompactionMode.SUMMARIZE, messages, old, before, after, why),
                    call,
                    after);
        });
    }

    /** Estimated prompt tokens (shared prefix plus conversation) and serialized conversation bytes. */
    static Size size(PreparedBatch batch, List<ChatMessage> messages) {
        long chars = 0;
        long bytes = 0;
        for (ChatMessage message : messages) {
            chars += length(message.getContent());
            bytes += utf8(message.getContent()) + utf8(message.getToolCallId()) + BYTES_PER_MESSAGE;
            for (ToolCallRef call : message.getToolCalls()) {
                chars += call.getName().length()
                        + call.getArgumentsJson().length()
                        + call.getId().length();
                bytes += utf8(call.getName())
                        + utf8(call.getArgumentsJson())
                        + utf8(call.getId())
                        + utf8(call.getCallHash())
                        + BYTES_PER_MESSAGE;
            }
        }
        long prefixChars = batch.prefix() == null ? 0 : batch.prefix().prefixLength();
        long tokens =
                (prefixChars + chars) / CHARS_PER_TOKEN + (long) TEMPLATE_TOKENS_PER_MESSAGE * (messages.size() + 1);
        return new Size(tokens, bytes);
    }

    /** The per-job conversation budget in bytes: the policy's, never above the record budget's largest value. */
    long budgetBytes(CompactionPolicy policy) {
        long record = limits.maxValueBytes();
        return policy.getMaxConversationBytes() > 0 ? Math.min(policy.getMaxConversationBytes(), record) : record;
    }

    private boolean overThreshold(BatchSpec spec, CompactionPolicy policy, Size size) {
        boolean context =
                spec.getContextTokens() > 0 && size.tokens() > policy.getContextFraction() * spec.getContextTokens();
        return context || size.bytes() > policy.getRecordFraction() * budgetBytes(policy);
    }

    private String reason(BatchSpec spec, CompactionPolicy policy, Size size) {
        if (spec.getContextTokens() > 0 && size.tokens() > policy.getContextFraction() * spec.getContextTokens()) {
            return String.format(
                    Locale.ROOT,
                    "next prompt ~%d tokens, over %.2f of the %d-token context",
                    size.tokens(),
                    policy.getContextFraction(),
                    spec.getContextTokens());
        }
        return String.format(
                Locale.ROOT,
                "conversation %d bytes, over %.2f of the %d-byte budget",
                size.bytes(),
                policy.getRecordFraction(),
                budgetBytes(policy));
    }

    /**
     * Indices of the TOOL messages of tool turns older than the last {@code keepTurns}, not compacted yet
     * and longer than {@code minChars}.
     */
    static List<Integer> oldToolResults(List<ChatMessage> messages, int keepTurns, int minChars) {
        List<Integer> toolTurns = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            ChatMessage message = messages.get(i);
            if (message.getRole() == Role.ASSISTANT && !message.getToolCalls().isEmpty()) {
                toolTurns.add(i);
            }
        }
        if (toolTurns.size() <= keepTurns) {
            return List.of();
        }
        int firstKept = keepTurns == 0 ? messages.size() : toolTurns.get(toolTurns.size() - keepTurns);
        List<Integer> old = new ArrayList<>();
        for (int i = toolTurns.get(0); i < firstKept; i++) {
            ChatMessage message = messages.get(i);
            String content = message.getContent();
            if (message.getRole() == Role.TOOL
                    && content != null
                    && content.length() > minChars
                    && !content.startsWith(MARKER)) {
                old.add(i);
            }
        }
        return old;
    }

    private Fitted truncated(
            AgentTurn turn,
            PreparedBatch batch,
            CompactionPolicy policy,
            List<ChatMessage> messages,
            List<Integer> old,
            Size before,
            String why,
            ChatResponse summaryCall) {
        int keep = Math.max(0, policy.getTruncateChars());
        List<ChatMessage> compacted = new ArrayList<>(messages);
        for (int i : old) {
            String content = messages.get(i).getContent();
            compacted.set(
                    i,
                    withContent(
                            messages.get(i),
                            MARKER + (content.length() - keep) + " of " + content.length() + " characters cut]\n"
                                    + content.substring(0, keep)));
        }
        Size after = size(batch, compacted);
        return checked(
                turn,
                batch,
                policy,
                compacted,
                compaction(turn, CompactionMode.TRUNCATE, messages, old, before, after, why),
                summaryCall,
                after);
    }

    private CompletableFuture<ChatResponse> summarize(
            AgentTurn turn, PreparedBatch batch, List<ChatMessage> messages, List<Integer> old) {
        Set<String> ids = new LinkedHashSet<>();
        old.forEach(i -> ids.add(messages.get(i).getToolCallId()));
        List<ChatMessage> ask = new ArrayList<>(messages);
        ask.add(ChatMessage.newBuilder()
                .setRole(Role.USER)
                .setContent(SUMMARY_INSTRUCTION + " " + String.join(", ", ids)
                        + ". Reply with the summary only, in plain text; call no tool.")
                .build());
        SchedulingHints hints = new SchedulingHints(SchedulingHints.CONTINUING_AGENT, true, OptionalInt.empty());
        return engine.complete(
                ChatRequest.of(turn.getJobId(), turn.getTurn(), AgentPrompt.forAgent(batch, ask, hints)));
    }

    /** Why a summary call's answer cannot replace the old results, or null when it can. */
    private static String summaryProblem(ChatResponse call, List<ChatMessage> messages, List<Integer> old) {
        if (call.isFailure()) {
            return call.failure().message();
        }
        if (!call.toolCalls().isEmpty()) {
            return "the model asked for tools instead of summarizing";
        }
        if (call.content() == null || call.content().isBlank()) {
            return "the model answered no summary";
        }
        long replaced = old.stream()
                .mapToLong(i -> messages.get(i).getContent().length())
                .sum();
        if (call.content().strip().length() >= replaced) {
            return "the summary (" + call.content().strip().length() + " characters) is not shorter than the "
                    + replaced + " characters it would replace";
        }
        return null;
    }

    private static List<ChatMessage> withSummary(List<ChatMessage> messages, List<Integer> old, String summary) {
        List<ChatMessage> compacted = new ArrayList<>(messages);
        String summaryCallId = messages.get(old.get(0)).getToolCallId();
        for (int n = 0; n < old.size(); n++) {
            int i = old.get(n);
            int length = messages.get(i).getContent().length();
            compacted.set(
                    i,
                    withContent(
                            messages.get(i),
                            n == 0
                                    ? MARKER + "summary of " + old.size() + " earlier tool results]\n" + summary
                                    : MARKER + length + " characters, summarized in the result of call " + summaryCallId
                                            + "]"));
        }
        return compacted;
    }

    /** The conversation as it goes on, or why it cannot: over the conversation budget or the context window. */
    private Fitted checked(
            AgentTurn turn,
            PreparedBatch batch,
            CompactionPolicy policy,
            List<ChatMessage> messages,
            Compaction compaction,
            ChatResponse summaryCall,
            Size size) {
        BatchSpec spec = batch.spec();
        long budget = budgetBytes(policy);
        String over = null;
        if (size.bytes() > budget) {
            over = size.bytes() + " bytes of conversation, over the per-job budget of " + budget + " bytes";
        } else if (spec.getContextTokens() > 0 && size.tokens() > spec.getContextTokens()) {
            over = "~" + size.tokens() + " prompt tokens (estimated), over the model's " + spec.getContextTokens()
                    + "-token context window";
        }
        if (over == null) {
            return new Fitted(messages, compaction, summaryCall, null);
        }
        String how = policy.getMode() == CompactionMode.NONE
                ? "compaction is off (mode NONE)"
                : compaction == null
                        ? "nothing left to compact (the last " + policy.getKeepTurns() + " tool turns are kept)"
                        : "after compacting " + compaction.getTurnsCompacted() + " tool turns (" + compaction.getMode()
                                + ")";
        return new Fitted(
                messages,
                compaction,
                summaryCall,
                "the conversation of turn " + turn.getTurn() + " is " + over + "; " + how + "; " + messages.size()
                        + " messages");
    }

    private static Compaction compaction(
            AgentTurn turn,
            CompactionMode mode,
            List<ChatMessage> messages,
            List<Integer> old,
            Size before,
            Size after,
            String detail) {
        Set<Integer> turns = new LinkedHashSet<>();
        for (int i : old) {
            turns.add(toolTurnOf(messages, i));
        }
        return Compaction.newBuilder()
                .setTurn(turn.getTurn())
                .setMode(mode)
                .setTurnsCompacted(turns.size())
                .setTokensBefore(before.tokens())
                .setTokensAfter(after.tokens())
                .setDetail(detail)
                .build();
    }

    /** The index of the assistant message whose call a TOOL message at {@code index} answers. */
    private static int toolTurnOf(List<ChatMessage> messages, int index) {
        for (int i = index; i >= 0; i--) {
            if (messages.get(i).getRole() == Role.ASSISTANT
                    && !messages.get(i).getToolCalls().isEmpty()) {
                return i;
            }
        }
        return -1;
    }

    private static ChatMessage withContent(ChatMessage message, String content) {
        // The content is no longer the referenced tool output: the message carries it inline from now on.
        return ChatMessage.newBuilder(message)
                .setContent(content)
                .setContentRef(null)
                .build();
    }

    private static long length(String text) {
        return text == null ? 0 : text.length();
    }

    private static long utf8(String text) {
        return text == null ? 0 : text.getBytes(StandardCharsets.UTF_8).length;
    }
}
