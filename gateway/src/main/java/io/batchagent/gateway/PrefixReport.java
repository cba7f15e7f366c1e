package io.batchagent.gateway;

/**
 * How much of their first model call the sessions of one batch had in common, measured at the gateway
 * on what the clients sent (see {@link PrefixSharing} for the rendering it compares).
 *
 * @param batchId the batch
 * @param sessions sessions whose first call was seen
 * @param commonPrefixChars characters every session's first call starts with
 * @param meanPromptChars mean length of the sessions' first calls, in the same rendering
 * @param estimatedCommonPrefixTokens {@code commonPrefixChars} in the engine's tokens, estimated with the
 *     engine's own tokens-per-character over those calls; 0 when the engine reported no prompt tokens
 * @param meanPromptTokens mean prompt tokens of the first calls as the engine reported them
 */
public record PrefixReport(
        String batchId,
        int sessions,
        long commonPrefixChars,
        double meanPromptChars,
        long estimatedCommonPrefixTokens,
        double meanPromptTokens) {

    /** Common prefix over mean first-call length: the share of a session's first prompt that all sessions share. */
    public double sharedFraction() {
        return meanPromptChars <= 0 ? 0 : commonPrefixChars / meanPromptChars;
    }
}
