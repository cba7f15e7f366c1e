package io.batchagent.inference;

import io.batchagent.events.WarmUpOutcome;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Warms a batch's shared prefix in the engine's cache before its turns are released, then verifies it.
 *
 * <p>Once per batch and worker: the first turn of a batch starts the warm-up, and every turn of the
 * batch waits for its outcome (without holding a thread) before its model call. The warm-up is the
 * batch's shared prefix ({@link AgentPrompt#warmUp}: system prompt, tools and schema instruction, no
 * agent message) sent through the same client, endpoint and chat template the agents use, not
 * streamed, with one output token. (SGLang's native {@code /generate} with {@code max_new_tokens: 0}
 * would also prefill; its {@code /v1/completions} rejects {@code max_tokens: 0}, which is how the Python
 * original's warm-up silently did nothing. Chat completions with one token works on every engine.)
 *
 * <p>Verification: where the engine reports cached tokens, the same call is sent again as a probe, with
 * growing pauses (50 ms doubling to 1 s), until an answer shows at least half of its prompt tokens
 * cached: VERIFIED. The whole warm-up is bounded by the timeout; past it the batch proceeds: NOT_CACHED
 * when probes never saw the prefix cached, FAILED when the warm-up call itself failed (its reason in the
 * detail), UNVERIFIED when the engine reports no cached tokens (vLLM without
 * {@code --enable-prompt-tokens-details}, SGLang without {@code --enable-cache-report}). A batch is never
 * failed by its warm-up. Each outcome is logged once (INFO) and stamped on the batch's results.
 *
 * <p>Thread-safe.
 */
final class BatchWarmer {

    private static final Logger LOGGER = LoggerFactory.getLogger(BatchWarmer.class);
    static final String JOB_ID_PREFIX = "warm-up:";
    private static final int BATCHES = 256;
    private static final long FIRST_PAUSE_MS = 50;
    private static final long MAX_PAUSE_MS = 1_000;

    private final EngineClient engine;
    private final Duration timeout;
    private final boolean enabled;
    private final Map<String, CompletableFuture<WarmUpReport>> warmUps = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, CompletableFuture<WarmUpReport>> eldest) {
            return size() > BATCHES && eldest.getValue().isDone();
        }
    };

    private BatchWarmer(EngineClient engine, Duration timeout, boolean enabled) {
        this.engine = engine;
        this.timeout = timeout;
        this.enabled = enabled;
    }

    /** Warms through {@code engine}, each batch bounded by {@code timeout}. */
    static BatchWarmer of(EngineClient engine, Duration timeout) {
        return new BatchWarmer(engine, timeout, true);
    }

    /** Warms nothing: every batch is ready at once, with no report. */
    static BatchWarmer disabled() {
        return new BatchWarmer(null, Duration.ZERO, false);
    }

    boolean enabled() {
        return enabled;
    }

    /**
     * Completes when the batch's turns may go: with the warm-up report, or with null when warm-up is off.
     * Never completes exceptionally. The first call for a batch starts its warm-up.
     */
    CompletableFuture<WarmUpReport> ready(PreparedBatch batch) {
        if (!enabled) {
            return CompletableFuture.completedFuture(null);
        }
        String batchId = batch.spec().getBatchId();
        synchronized (warmUps) {
            CompletableFuture<WarmUpReport> known = warmUps.get(batchId);
            if (known != null) {
                return known;
            }
            CompletableFuture<WarmUpReport> started = new CompletableFuture<>();
            warmUps.put(batchId, started);
            warm(batch)
                    .whenComplete((report, error) -> started.complete(
                            report != null
                                    ? report
                                    : new WarmUpReport(
                                            batchId,
                                            WarmUpOutcome.FAILED,
                                            0,
                                            0,
                                            0,
                                            0,
                                            "the warm-up failed unexpectedly: " + EngineRetry.describe(error))));
            return started;
        }
    }

    /** The report of a batch's warm-up, once it is done. */
    Optional<WarmUpReport> report(String batchId) {
        synchronized (warmUps) {
            CompletableFuture<WarmUpReport> known = warmUps.get(batchId);
            return known == null || !known.isDone() ? Optional.empty() : Optional.ofNullable(known.join());
        }
    }

    private CompletableFuture<WarmUpReport> warm(PreparedBatch batch) {
        String batchId = batch.spec().getBatchId();
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        AgentPrompt prompt = AgentPrompt.warmUp(batch);
        ChatRequest request = ChatRequest.of(JOB_ID_PREFIX + batchId, 0, prompt);
        LOGGER.debug("batch warm-up started: batchId={} model={}", batchId, prompt.model());
        // Copies (thenApply): the timeouts must not complete the client's own, shared futures.
        return engine.capabilities(prompt.model())
                .thenApply(Function.identity())
                .completeOnTimeout(EngineCapabilities.unknown(), remainingMs(deadline), TimeUnit.MILLISECONDS)
                .thenCompose(capabilities -> call(request, deadline).thenCompose(first -> {
                    if (first == null) {
                        return done(
                                batchId,
                                WarmUpOutcome.FAILED,
                                1,
                                null,
                                start,
                                "the warm-up call did not answer within " + timeout.toMillis() + " ms");
                    }
                    if (first.isFailure()) {
                        return done(
                                batchId,
                                WarmUpOutcome.FAILED,
                                1,
                                first,
                                start,
                                "the warm-up call failed: " + first.failure().message());
                    }
                    if (!first.usage().cacheReported()
                            && capabilities.reportsCachedTokens() != EngineCapabilities.Report.YES) {
                        return done(
                                batchId,
                                WarmUpOutcome.UNVERIFIED,
                                1,
                                first,
                                start,
                                "prefix sent; the engine reports no cached tokens, so the warm-up cannot be verified "
                                        + "(vLLM: --enable-prompt-tokens-details; SGLang: --enable-cache-report)");
                    }
                    if (cached(first)) {
                        return done(batchId, WarmUpOutcome.VERIFIED, 1, first, start, "the prefix was already cached");
                    }
                    return probe(request, batchId, start, deadline, 1, first, FIRST_PAUSE_MS);
                }));
    }

    private CompletableFuture<WarmUpReport> probe(
            ChatRequest request,
            String batchId,
            long start,
            long deadline,
            int calls,
            ChatResponse last,
            long pauseMs) {
        if (System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(pauseMs) >= deadline) {
            return done(
                    batchId,
                    WarmUpOutcome.NOT_CACHED,
                    calls,
                    last,
                    start,
                    "no probe saw the prefix cached within " + timeout.toMillis() + " ms (" + calls + " calls; last: "
                            + describe(last) + ")");
        }
        Executor later = CompletableFuture.delayedExecutor(pauseMs, TimeUnit.MILLISECONDS);
        return CompletableFuture.supplyAsync(() -> null, later)
                .thenCompose(ignored -> call(request, deadline))
                .thenCompose(answer -> {
                    ChatResponse latest = answer == null || answer.isFailure() ? last : answer;
                    if (answer != null && !answer.isFailure() && cached(answer)) {
                        return done(
                                batchId,
                                WarmUpOutcome.VERIFIED,
                                calls + 1,
                                answer,
                                start,
                                "a probe saw the prefix cached");
                    }
                    return probe(
                            request, batchId, start, deadline, calls + 1, latest, Math.min(MAX_PAUSE_MS, pauseMs * 2));
                });
    }

    /** One warm-up or probe call, or null when it outlives the deadline (it is not waited for). */
    private CompletableFuture<ChatResponse> call(ChatRequest request, long deadline) {
        return engine.complete(request)
                .thenApply(Function.identity())
                .completeOnTimeout(null, remainingMs(deadline), TimeUnit.MILLISECONDS);
    }

    /** At least half of the prompt was served from the cache (engines always compute the last tokens). */
    private static boolean cached(ChatResponse answer) {
        TokenUsage usage = answer.usage();
        return usage.cachedPromptTokens() > 0 && usage.cachedPromptTokens() * 2 >= usage.promptTokens();
    }

    private static String describe(ChatResponse answer) {
        if (answer == null) {
            return "no answer";
        }
        if (answer.isFailure()) {
            return answer.failure().message();
        }
        return answer.usage().cachedPromptTokens() + " of " + answer.usage().promptTokens() + " prompt tokens cached";
    }

    private CompletableFuture<WarmUpReport> done(
            String batchId, WarmUpOutcome outcome, int calls, ChatResponse last, long start, String detail) {
        long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        long prompt = last == null || last.isFailure() ? 0 : last.usage().promptTokens();
        long cached = last == null || last.isFailure() ? 0 : last.usage().cachedPromptTokens();
        WarmUpReport report = new WarmUpReport(
                batchId,
                outcome,
                calls,
                prompt,
                cached,
                elapsedMs,
                detail
                        + (last == null || last.isFailure() || outcome == WarmUpOutcome.NOT_CACHED
                                ? ""
                                : " (" + cached + " of " + prompt + " prompt tokens cached)"));
        if (outcome == WarmUpOutcome.VERIFIED) {
            LOGGER.info(
                    "batch warm-up verified: batchId={} calls={} promptTokens={} cachedTokens={} elapsedMs={}",
                    batchId,
                    calls,
                    prompt,
                    cached,
                    elapsedMs);
        } else {
            LOGGER.warn(
                    "batch warm-up not verified, the batch proceeds: batchId={} outcome={} calls={} elapsedMs={} detail={}",
                    batchId,
                    outcome,
                    calls,
                    elapsedMs,
                    report.detail());
        }
        return CompletableFuture.completedFuture(report);
    }

    private static long remainingMs(long deadlineNanos) {
        return Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime()));
    }
}
