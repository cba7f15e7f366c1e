package io.batchagent.gateway;

/**
 * A snapshot of a {@link Gateway}'s counters since it started.
 *
 * @param maxInflight the in-flight bound
 * @param inFlight model calls at the engine now
 * @param peakInFlight the most calls that were ever at the engine at once (never above the bound)
 * @param waiting calls waiting for a slot now
 * @param peakWaiting the most calls that ever waited at once
 * @param modelCalls calls forwarded to the engine, warm-up calls included
 * @param failedCalls of those, calls that ended in an engine failure
 * @param promptTokens prompt tokens of all calls
 * @param cachedPromptTokens of those, served from the engine's prefix cache
 * @param completionTokens tokens generated
 * @param refusedCalls calls refused before reaching the engine: client not allowed, no or wrong token,
 *     malformed request
 */
public record GatewayStats(
        int maxInflight,
        int inFlight,
        int peakInFlight,
        int waiting,
        int peakWaiting,
        long modelCalls,
        long failedCalls,
        long promptTokens,
        long cachedPromptTokens,
        long completionTokens,
        long refusedCalls) {

    /** Prompt tokens the engine had to compute. */
    public long prefillTokens() {
        return promptTokens - cachedPromptTokens;
    }
}
