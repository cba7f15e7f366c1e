package io.batchagent.simulator;

/**
 * A snapshot of an {@link EngineSimulator}'s SIMULATED counters since start or the last
 * {@link EngineSimulator#resetStats()}. The same figures are on {@code GET /metrics}.
 *
 * <p>Token counters are taken when the scheduler admits a request (prompt and cached tokens), as it
 * computes prefill, and as it emits each output token; so once every request has been answered,
 * {@code prefillTokensComputed == promptTokens - cachedTokens}.
 *
 * @param requests chat completions answered with HTTP 200 (finished by the scheduler)
 * @param promptTokens prompt tokens of admitted requests
 * @param cachedTokens of those, tokens found in the radix prefix cache at admission
 * @param prefillTokensComputed prompt tokens actually prefilled (not cached)
 * @param completionTokens output tokens emitted
 * @param inFlight chat-completion HTTP requests accepted and not yet fully answered
 * @param peakInFlight the most {@code inFlight} has been since start or reset
 * @param running requests in the running batch now
 * @param waiting requests queued for admission now
 * @param steps scheduler steps run that prefilled or emitted something
 * @param emittedContextTokens for every output token, the context it was charged for (its request's
 *     prompt plus the tokens emitted before it), added up
 * @param simulatedEngineMillis SIMULATED engine time charged for those steps by the profile's cost
 *     formula ({@link EngineProfile#stepMillis}), before the speedup: the engine's busy time
 */
public record SimulatorStats(
        long requests,
        long promptTokens,
        long cachedTokens,
        long prefillTokensComputed,
        long completionTokens,
        int inFlight,
        int peakInFlight,
        int running,
        int waiting,
        long steps,
        long emittedContextTokens,
        double simulatedEngineMillis) {

    /** {@code cachedTokens / promptTokens}, or 0 before any prompt token. */
    public double cacheHitRate() {
        return promptTokens == 0 ? 0 : (double) cachedTokens / promptTokens;
    }
}
