package io.batchagent.inference;

import java.util.List;
import java.util.OptionalLong;

/**
 * The outcome of one model call: either the model's answer or an {@link EngineFailure}.
 *
 * <p>When {@link #failure()} is set, content, tool calls and finish reason are empty and usage may be
 * zero; latency is still the time the call took.
 *
 * @param content the answer text, or null when the model produced none (e.g. only tool calls)
 * @param toolCalls the tool calls in the order of their index, reassembled from stream fragments
 * @param finishReason the engine's finish reason ({@code stop}, {@code tool_calls}, {@code length}, ...), or null
 * @param usage tokens as the engine reported them; zero where it reported nothing
 * @param timeToFirstTokenMs from the start of the call to the first non-empty content or tool-call
 *     delta; empty for non-streamed answers and failures
 * @param latencyMs from the start of the call (including retries) to its end
 * @param failure why the call failed, or null when it succeeded
 */
public record ChatResponse(
        String content,
        List<RequestedToolCall> toolCalls,
        String finishReason,
        TokenUsage usage,
        OptionalLong timeToFirstTokenMs,
        long latencyMs,
        EngineFailure failure) {

    public ChatResponse {
        toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
        usage = usage == null ? TokenUsage.ZERO : usage;
        timeToFirstTokenMs = timeToFirstTokenMs == null ? OptionalLong.empty() : timeToFirstTokenMs;
    }

    /** A successful answer. */
    public static ChatResponse answer(
            String content,
            List<RequestedToolCall> toolCalls,
            String finishReason,
            TokenUsage usage,
            OptionalLong timeToFirstTokenMs,
            long latencyMs) {
        return new ChatResponse(content, toolCalls, finishReason, usage, timeToFirstTokenMs, latencyMs, null);
    }

    /** A failed call. */
    public static ChatResponse failed(EngineFailure failure, long latencyMs) {
        return new ChatResponse(null, List.of(), null, TokenUsage.ZERO, OptionalLong.empty(), latencyMs, failure);
    }

    public boolean isFailure() {
        return failure != null;
    }

    /** Model output stays out of logs: only sizes are shown. */
    @Override
    public String toString() {
        return "ChatResponse[content=" + (content == null ? "null" : content.length() + " chars")
                + ", toolCalls=" + toolCalls.size() + ", finishReason=" + finishReason + ", usage=" + usage
                + ", timeToFirstTokenMs=" + timeToFirstTokenMs + ", latencyMs=" + latencyMs + ", failure=" + failure
                + "]";
    }
}
