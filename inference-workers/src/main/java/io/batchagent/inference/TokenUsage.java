package io.batchagent.inference;

/**
 * Token counts of one model call as the engine reported them.
 *
 * @param promptTokens tokens in the prompt
 * @param cachedPromptTokens prompt tokens served from the engine's prefix cache (0 when not reported)
 * @param completionTokens tokens generated
 */
public record TokenUsage(long promptTokens, long cachedPromptTokens, long completionTokens) {

    public static final TokenUsage ZERO = new TokenUsage(0, 0, 0);
}
