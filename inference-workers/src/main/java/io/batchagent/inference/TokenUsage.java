package io.batchagent.inference;

/**
 * Token counts of one model call as the engine reported them, in one vocabulary for every engine.
 *
 * <p>{@code promptTokens} is the whole prompt, cached or not: for Anthropic and Bedrock, which report the
 * uncached remainder as their input tokens, it is input + cache read + cache write.
 *
 * @param promptTokens tokens in the prompt
 * @param cachedPromptTokens prompt tokens served from the engine's prefix cache (OpenAI-style
 *     {@code prompt_tokens_details.cached_tokens}, Anthropic {@code cache_read_input_tokens}, Bedrock
 *     {@code cacheReadInputTokens}); 0 when not reported
 * @param completionTokens tokens generated
 * @param cacheWriteTokens prompt tokens written to an API's prompt cache (Anthropic
 *     {@code cache_creation_input_tokens}, Bedrock {@code cacheWriteInputTokens}); 0 elsewhere
 * @param cacheReported whether the answer carried a cached-token figure at all: vLLM without
 *     {@code --enable-prompt-tokens-details} and SGLang without {@code --enable-cache-report} send none,
 *     and then a 0 above means "unknown", not "nothing cached"
 */
public record TokenUsage(
        long promptTokens,
        long cachedPromptTokens,
        long completionTokens,
        long cacheWriteTokens,
        boolean cacheReported) {

    /** Nothing reported. */
    public static final TokenUsage ZERO = new TokenUsage(0, 0, 0, 0, false);

    /** Counts with a reported cached-token figure and no cache writes. */
    public TokenUsage(long promptTokens, long cachedPromptTokens, long completionTokens) {
        this(promptTokens, cachedPromptTokens, completionTokens, 0, true);
    }

    /** Counts of an engine that reported no cached-token figure. */
    public static TokenUsage withoutCacheReport(long promptTokens, long completionTokens) {
        return new TokenUsage(promptTokens, 0, completionTokens, 0, false);
    }
}
