package io.batchagent.gateway;

import java.util.OptionalLong;

/**
 * What one job's model calls through the gateway used, as the engine reported it. A snapshot: later calls
 * are not reflected.
 *
 * @param jobId the job the calls were made for (from the call's path)
 * @param batchId the job's batch (from the call's path), or {@link Gateway#DEFAULT_BATCH}
 * @param modelCalls calls forwarded to the engine, failed ones included
 * @param failedCalls calls that ended in an engine failure (answered to the client as an error)
 * @param promptTokens prompt tokens of all calls, cached or not
 * @param cachedPromptTokens of those, served from the engine's prefix cache (0 where not reported)
 * @param completionTokens tokens generated
 * @param cacheReported whether every answered call carried a cached-token figure; when false, a 0 above
 *     means "unknown"
 * @param firstTokenMs time to first token of the job's first call, from forwarding to the engine
 * @param firstCallPromptTokens prompt tokens of the job's first call (the one that shares the prefix)
 * @param firstCallCachedTokens cached prompt tokens of the job's first call
 * @param queuedMs time the job's calls waited in the gateway for an in-flight slot, summed
 * @param modelMs time the job's calls spent in the engine (retries included), summed
 */
public record JobUsage(
        String jobId,
        String batchId,
        int modelCalls,
        int failedCalls,
        long promptTokens,
        long cachedPromptTokens,
        long completionTokens,
        boolean cacheReported,
        OptionalLong firstTokenMs,
        long firstCallPromptTokens,
        long firstCallCachedTokens,
        long queuedMs,
        long modelMs) {

    public JobUsage {
        firstTokenMs = firstTokenMs == null ? OptionalLong.empty() : firstTokenMs;
    }

    /** Prompt tokens the engine had to compute: prompt minus cached. */
    public long prefillTokens() {
        return promptTokens - cachedPromptTokens;
    }
}
