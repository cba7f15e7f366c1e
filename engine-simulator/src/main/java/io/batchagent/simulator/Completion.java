package io.batchagent.simulator;

import java.util.List;

/**
 * One request's output as the scheduler will emit it: the scripted output cut to
 * {@code max_tokens}, token by token, with what each token contributes to a streamed response.
 *
 * <p>When the output is cut, {@code finish_reason} is {@code length}; a cut tool call is no tool
 * call at all but its partial raw text as content, as real engines' tool parsers return it.
 * Immutable.
 */
final class Completion {

    private final List<String> pieces;
    private final int[] tokenIds;
    private final String finishReason;
    private final String content;
    private final String toolName;
    private final String arguments;
    private final String toolCallId;
    /** For a tool call: the slice of the arguments text each token carries ("" for none). */
    private final String[] argumentFragments;

    private Completion(
            List<String> pieces,
            String finishReason,
            String content,
            String toolName,
            String arguments,
            String toolCallId,
            String[] argumentFragments) {
        this.pieces = pieces;
        this.tokenIds = new int[pieces.size()];
        for (int i = 0; i < tokenIds.length; i++) {
            tokenIds[i] = Tokenizer.tokenId(pieces.get(i));
        }
        this.finishReason = finishReason;
        this.content = content;
        this.toolName = toolName;
        this.arguments = arguments;
        this.toolCallId = toolCallId;
        this.argumentFragments = argumentFragments;
    }

    /** Plans the emission of {@code output}, cut to {@code maxTokens} when that is not null. */
    static Completion plan(ScriptedModel.ScriptedOutput output, Integer maxTokens) {
        List<String> all = Tokenizer.pieces(output.text());
        boolean cut = maxTokens != null && all.size() > maxTokens;
        if (cut) {
            List<String> kept = List.copyOf(all.subList(0, maxTokens));
            return new Completion(kept, "length", String.join("", kept), null, null, null, null);
        }
        if (!output.isToolCall()) {
            return new Completion(List.copyOf(all), "stop", output.text(), null, null, null, null);
        }
        int argumentsStart = ChatTemplate.argumentsOffset(output.toolName());
        int argumentsEnd = argumentsStart + output.arguments().length();
        String[] fragments = new String[all.size()];
        int position = 0;
        for (int i = 0; i < fragments.length; i++) {
            int end = position + all.get(i).length();
            int from = Math.max(position, argumentsStart);
            int to = Math.min(end, argumentsEnd);
            fragments[i] = from < to ? output.text().substring(from, to) : "";
            position = end;
        }
        return new Completion(
                List.copyOf(all),
                "tool_calls",
                null,
                output.toolName(),
                output.arguments(),
                output.toolCallId(),
                fragments);
    }

    /** Output tokens, as the engine emits them. */
    int tokenCount() {
        return pieces.size();
    }

    int[] tokenIds() {
        return tokenIds;
    }

    /** The text of token {@code index}. */
    String piece(int index) {
        return pieces.get(index);
    }

    /** {@code stop}, {@code tool_calls} or {@code length}. */
    String finishReason() {
        return finishReason;
    }

    boolean isToolCall() {
        return toolName != null;
    }

    /** The message content; null for a tool call. */
    String content() {
        return content;
    }

    String toolName() {
        return toolName;
    }

    String arguments() {
        return arguments;
    }

    String toolCallId() {
        return toolCallId;
    }

    /** For a tool call, the piece of the arguments string that token {@code index} carries; may be "". */
    String argumentFragment(int index) {
        return argumentFragments[index];
    }
}
