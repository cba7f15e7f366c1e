package io.batchagent.inference;

import java.time.Duration;

/**
 * Settings of an inference worker and of its engine client. A null argument takes the default.
 *
 * @param groupId consumer group of the workers reading agent-turns. Default {@value #DEFAULT_GROUP_ID}.
 * @param maxInflight the most model calls in flight at once per worker (invariant 1): the ceiling of the adaptive
 *     limit, or the limit itself when {@link FlowControl#adaptive()} is off; also the least size of the engine
 *     connection pool. At least 1. Default {@value #DEFAULT_MAX_INFLIGHT}.
 * @param engineTimeout longest one model call attempt may take, streaming included; a call past it counts as an
 *     engine failure ({@link OutageGuard}). Positive. Default 10 min.
 * @param specWaitTimeout how long a turn waits for its batch's BatchSpec to be known before it fails
 *     with UNKNOWN_BATCH. Positive. Default 30 s.
 * @param maxRetries retries after the first attempt of a model call that failed to connect, lost its
 *     connection mid-answer, got a broken event stream, or got HTTP 429/502/503/504/529, so
 *     {@code maxRetries + 1} attempts in all (see {@link EngineRetry}). At least 0. Default
 *     {@value #DEFAULT_MAX_RETRIES} (3 attempts).
 * @param retryBackoff the first backoff between attempts; it doubles per retry (with jitter) up to
 *     {@link #MAX_BACKOFF}. An engine's {@code Retry-After} takes its place, up to {@link #MAX_RETRY_AFTER}.
 *     Positive. Default 250 ms.
 * @param engineApiKey the engine's API key: {@code Authorization: Bearer} for OpenAI-compatible engines and
 *     the OpenAI API, {@code x-api-key} for Anthropic; Bedrock signs with AWS credentials instead. Null or
 *     blank for none. Read it from the environment or a secret store, never from a command line. Never
 *     logged, never put in an event or a result: {@link #toString()} masks it.
 * @param warmUp whether a worker warms each batch's shared prefix before releasing its first turns (see
 *     {@link BatchWarmer}). Default off, so that embedding callers opt in; the CLI turns it on.
 * @param warmUpTimeout how long a batch's turns wait, in all, for its warm-up and for a probe to see the
 *     prefix cached; after it the batch proceeds unverified. Positive. Default 30 s.
 * @param flowControl how the worker rides out engine outages ({@link FlowControl}). Default {@link FlowControl#defaults()}.
 */
public record InferenceWorkerConfig(
        String groupId,
        Integer maxInflight,
        Duration engineTimeout,
        Duration specWaitTimeout,
        Integer maxRetries,
        Duration retryBackoff,
        String engineApiKey,
        Boolean warmUp,
        Duration warmUpTimeout,
        FlowControl flowControl) {

    public static final String DEFAULT_GROUP_ID = "batchagent-inference";
    public static final int DEFAULT_MAX_INFLIGHT = 32;
    public static final Duration DEFAULT_ENGINE_TIMEOUT = Duration.ofMinutes(10);
    public static final Duration DEFAULT_SPEC_WAIT_TIMEOUT = Duration.ofSeconds(30);
    public static final int DEFAULT_MAX_RETRIES = 2;
    public static final Duration DEFAULT_RETRY_BACKOFF = Duration.ofMillis(250);
    public static final Duration MAX_BACKOFF = Duration.ofSeconds(10);
    /** A {@code Retry-After} longer than this is not waited for: the call fails at once, saying so. */
    public static final Duration MAX_RETRY_AFTER = Duration.ofMinutes(2);

    public static final Duration DEFAULT_WARM_UP_TIMEOUT = Duration.ofSeconds(30);

    public InferenceWorkerConfig {
        groupId = groupId == null ? DEFAULT_GROUP_ID : groupId;
        maxInflight = maxInflight == null ? DEFAULT_MAX_INFLIGHT : maxInflight;
        engineTimeout = engineTimeout == null ? DEFAULT_ENGINE_TIMEOUT : engineTimeout;
        specWaitTimeout = specWaitTimeout == null ? DEFAULT_SPEC_WAIT_TIMEOUT : specWaitTimeout;
        maxRetries = maxRetries == null ? DEFAULT_MAX_RETRIES : maxRetries;
        retryBackoff = retryBackoff == null ? DEFAULT_RETRY_BACKOFF : retryBackoff;
        engineApiKey = engineApiKey == null || engineApiKey.isBlank() ? null : engineApiKey;
        warmUp = warmUp != null && warmUp;
        warmUpTimeout = warmUpTimeout == null ? DEFAULT_WARM_UP_TIMEOUT : warmUpTimeout;
        flowControl = flowControl == null ? FlowControl.defaults() : flowControl;

        if (groupId.isBlank()) {
            throw new IllegalArgumentException("groupId must not be blank");
        }
        if (maxInflight < 1) {
            throw new IllegalArgumentException("maxInflight must be at least 1, got " + maxInflight);
        }
        requirePositive("engineTimeout", engineTimeout);
        requirePositive("specWaitTimeout", specWaitTimeout);
        requirePositive("retryBackoff", retryBackoff);
        requirePositive("warmUpTimeout", warmUpTimeout);
        if (maxRetries < 0) {
            throw new IllegalArgumentException("maxRetries must be at least 0, got " + maxRetries);
        }
    }

    /** The settings before warm-up existed; warm-up at its defaults. */
    public InferenceWorkerConfig(
            String groupId,
            Integer maxInflight,
            Duration engineTimeout,
            Duration specWaitTimeout,
            Integer maxRetries,
            Duration retryBackoff,
            String engineApiKey) {
        this(
                groupId,
                maxInflight,
                engineTimeout,
                specWaitTimeout,
                maxRetries,
                retryBackoff,
                engineApiKey,
                null,
                null,
                null);
    }

    /** Every setting at its default. */
    public static InferenceWorkerConfig defaults() {
        return new InferenceWorkerConfig(null, null, null, null, null, null, null, null, null, null);
    }

    public InferenceWorkerConfig withGroupId(String value) {
        return new InferenceWorkerConfig(
                value,
                maxInflight,
                engineTimeout,
                specWaitTimeout,
                maxRetries,
                retryBackoff,
                engineApiKey,
                warmUp,
                warmUpTimeout,
                flowControl);
    }

    public InferenceWorkerConfig withMaxInflight(int value) {
        return new InferenceWorkerConfig(
                groupId,
                value,
                engineTimeout,
                specWaitTimeout,
                maxRetries,
                retryBackoff,
                engineApiKey,
                warmUp,
                warmUpTimeout,
                flowControl);
    }

    public InferenceWorkerConfig withEngineTimeout(Duration value) {
        return new InferenceWorkerConfig(
                groupId,
                maxInflight,
                value,
                specWaitTimeout,
                maxRetries,
                retryBackoff,
                engineApiKey,
                warmUp,
                warmUpTimeout,
                flowControl);
    }

    public InferenceWorkerConfig withSpecWaitTimeout(Duration value) {
        return new InferenceWorkerConfig(
                groupId,
                maxInflight,
                engineTimeout,
                value,
                maxRetries,
                retryBackoff,
                engineApiKey,
                warmUp,
                warmUpTimeout,
                flowControl);
    }

    public InferenceWorkerConfig withMaxRetries(int value) {
        return new InferenceWorkerConfig(
                groupId,
                maxInflight,
                engineTimeout,
                specWaitTimeout,
                value,
                retryBackoff,
                engineApiKey,
                warmUp,
                warmUpTimeout,
                flowControl);
    }

    public InferenceWorkerConfig withRetryBackoff(Duration value) {
        return new InferenceWorkerConfig(
                groupId,
                maxInflight,
                engineTimeout,
                specWaitTimeout,
                maxRetries,
                value,
                engineApiKey,
                warmUp,
                warmUpTimeout,
                flowControl);
    }

    public InferenceWorkerConfig withEngineApiKey(String value) {
        return new InferenceWorkerConfig(
                groupId,
                maxInflight,
                engineTimeout,
                specWaitTimeout,
                maxRetries,
                retryBackoff,
                value,
                warmUp,
                warmUpTimeout,
                flowControl);
    }

    public InferenceWorkerConfig withWarmUp(boolean value) {
        return new InferenceWorkerConfig(
                groupId,
                maxInflight,
                engineTimeout,
                specWaitTimeout,
                maxRetries,
                retryBackoff,
                engineApiKey,
                value,
                warmUpTimeout,
                flowControl);
    }

    public InferenceWorkerConfig withWarmUpTimeout(Duration value) {
        return new InferenceWorkerConfig(
                groupId,
                maxInflight,
                engineTimeout,
                specWaitTimeout,
                maxRetries,
                retryBackoff,
                engineApiKey,
                warmUp,
                value,
                flowControl);
    }

    public InferenceWorkerConfig withFlowControl(FlowControl value) {
        return new InferenceWorkerConfig(
                groupId,
                maxInflight,
                engineTimeout,
                specWaitTimeout,
                maxRetries,
                retryBackoff,
                engineApiKey,
                warmUp,
                warmUpTimeout,
                value);
    }

    /** Attempts of one model call in all, the first included. */
    public int maxAttempts() {
        return maxRetries + 1;
    }

    @Override
    public String toString() {
        return "InferenceWorkerConfig[groupId=" + groupId + ", maxInflight=" + maxInflight
                + ", engineTimeout=" + engineTimeout + ", specWaitTimeout=" + specWaitTimeout
                + ", maxRetries=" + maxRetries + ", retryBackoff=" + retryBackoff
                + ", engineApiKey=" + (engineApiKey == null ? "none" : "****")
                + ", warmUp=" + warmUp + ", warmUpTimeout=" + warmUpTimeout + ", flowControl=" + flowControl + "]";
    }

    private static void requirePositive(String name, Duration value) {
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException(name + " must be positive, got " + value);
        }
    }
}
