package io.batchagent.tools;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.BatchItem;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.schemas.Faults;
import io.batchagent.schemas.OversizedRecordException;
import io.batchagent.schemas.ToolTimeouts;
import io.batchagent.schemas.Topics;
import io.batchagent.tools.limits.LimitTimeoutException;
import io.batchagent.tools.limits.ToolLimiter;
import io.batchagent.tools.limits.ToolThreads;
import io.batchagent.worker.InFlightConsumer;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns one record of the tool-calls topic into its published records: one {@link ToolResult} on
 * the tool-results topic per call it carries (one for an ordinary call, one per item of a batched
 * call, each keyed by its own call hash), or, for a record that cannot be decoded, a
 * {@link DeadLetter}. The stage it returns completes when the broker has acknowledged all of them,
 * so the consumer commits an offset only once its answers are durable.
 *
 * <p>A call goes through: resolve the declared tool ({@link ToolResolver}); parse its arguments and
 * validate them against the declaration's parameter schema; look it up in the result cache (if the
 * spec is cacheable); skip it if its deadline ({@code ToolCall.deadlineMs}, see
 * {@link ToolTimeouts}) passed while it was queued; wait for the tool's rate and concurrency limits
 * ({@link ToolLimiter}) and for a tool thread ({@link ToolThreads}); run it until its timeout from
 * pickup or its deadline, whichever is sooner (the waits count too); cap its output. Every expected
 * failure is a result, not an exception: an unknown tool, arguments that are not JSON or break the
 * schema (the model can correct those), a tool that throws, a call that expired in the queue, a
 * tool or a wait that overruns the deadline. For a batched call, a failure of the batch is the
 * result of every item in it. The returned stage fails only when an answer cannot be published.
 *
 * <p>A call that times out is answered at once and its thread interrupted, but its concurrency
 * permit and its tool thread stay taken until its code really returns: a tool that ignores
 * interruption can neither exceed its {@code maxConcurrency} nor make the worker add threads.
 *
 * <p>Threads: {@link #handle} runs on the poll thread and only starts work. Cache and limit
 * round-trips complete on the Redis client's threads, tools run on {@code threads}, timeouts
 * and limit retries fire on {@code timer}, sends happen on {@code publishing}, because a producer
 * send can block (on metadata, or when its buffer is full) and the poll thread must not. A
 * {@code publishing} executor that drops tasks once the worker stops leaves those stages incomplete,
 * which is what shutdown wants: their records were not committed and will be processed again by the
 * partition's next owner.
 */
final class ToolCallHandler implements InFlightConsumer.Handler<byte[], byte[]> {

    static final String STAGE = "tools";
    /** How long past its last renewal a concurrency slot of a crashed worker stays taken, beyond the timeout. */
    static final long LEASE_MARGIN_MS = 5_000;
    /** How long a call first waits while another worker holds its claim; doubled on each look, up to the max. */
    static final long CLAIM_FIRST_WAIT_MS = 20;

    static final long CLAIM_MAX_WAIT_MS = 500;
    /** How many times a failed cache write is tried again in the background. */
    static final int STORE_RETRIES = 3;

    private static final Logger LOGGER = LoggerFactory.getLogger(ToolCallHandler.class);
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final Topics topics;
    private final ToolResolver resolver;
    private final ParameterSchemas schemas = new ParameterSchemas();
    private final ToolResultCache cache;
    private final ToolLimiter limiter;
    private final Producer<byte[], byte[]> producer;
    private final ToolThreads threads;
    private final ScheduledExecutorService timer;
    private final Executor publishing;
    private final ToolWorkerCounters counters;
    private final ToolMetrics metrics;
    /** This handler's id in result cache claims. */
    private final String owner = UUID.randomUUID().toString();

    private final ThrottledWarning cacheWarning = new ThrottledWarning(Duration.ofSeconds(10));
    private final Deserializer<ToolCall> callDeserializer;
    private final Serializer<String> resultKeySerializer;
    private final Serializer<ToolResult> resultSerializer;
    private final Serializer<DeadLetter> deadLetterSerializer;

    ToolCallHandler(
            Topics topics,
            ToolResolver resolver,
            ToolResultCache cache,
            ToolLimiter limiter,
            Producer<byte[], byte[]> producer,
            ToolThreads threads,
            ScheduledExecutorService timer,
            Executor publishing,
            ToolWorkerCounters counters,
            ToolMetrics metrics) {
        this.topics = topics;
        this.resolver = resolver;
        this.cache = cache;
        this.limiter = limiter;
        this.producer = producer;
        this.threads = threads;
        this.timer = timer;
        this.publishing = publishing;
        this.counters = counters;
        this.metrics = metrics;
        this.callDeserializer = topics.toolCalls().valueSerde().deserializer();
        this.resultKeySerializer = topics.toolResults().keySerde().serializer();
        this.resultSerializer = topics.toolResults().valueSerde().serializer();
        this.deadLetterSerializer = topics.deadLetters().valueSerde().serializer();
    }

    @Override
    public CompletionStage<?> handle(ConsumerRecord<byte[], byte[]> record) {
        ToolCall call;
        try {
            call = decode(record);
        } catch (RuntimeException e) {
            if (Faults.isRetriable(e)) {
                // A registry outage is not the record's fault: fail the attempt so the record is tried again.
                LOGGER.warn(
                        "tool call not decodable now, will be tried again: topic={} partition={} offset={} cause={}",
                        record.topic(),
                        record.partition(),
                        record.offset(),
                        e.getMessage());
                return CompletableFuture.failedFuture(e);
            }
            return deadLetter(record, e);
        }
        CompletionStage<List<ToolResult>> answers =
                call.getBatchItems().isEmpty() ? answer(call).thenApply(List::of) : answerBatch(call);
        return answers.thenComposeAsync(results -> publish(call, results), publishing);
    }

    private ToolCall decode(ConsumerRecord<byte[], byte[]> record) {
        if (record.value() == null) {
            throw new SerializationException("the record has no value (a tombstone); tool calls are never deleted");
        }
        ToolCall call = callDeserializer.deserialize(record.topic(), record.headers(), record.value());
        if (call == null) {
            throw new SerializationException("the value decoded to nothing");
        }
        if (call.getCallHash().isBlank()) {
            throw new SerializationException("the ToolCall has an empty callHash, so its result could not be routed");
        }
        for (BatchItem item : call.getBatchItems()) {
            if (item.getCallHash().isBlank()) {
                throw new SerializationException("a batch item of the ToolCall has an empty callHash");
            }
        }
        return call;
    }

    // ---------------------------------------------------------------- one call

    private CompletionStage<ToolResult> answer(ToolCall call) {
        long startedAt = System.currentTimeMillis();
        ToolSpec spec = call.getTool();
        String callHash = call.getCallHash();
        metrics.call(spec.getName());
        ToolResolver.Resolution resolution = resolver.resolve(spec);
        if (resolution.problem() != null) {
            return done(failed(callHash, spec, ToolStatus.ERROR, resolution.problem(), startedAt, 0));
        }
        Prepared prepared = prepare(spec, callHash, call.getArgumentsJson(), startedAt);
        if (prepared.refusal() != null) {
            return done(prepared.refusal());
        }
        return lookUp(spec, callHash)
                .thenCompose(hit -> hit.isPresent()
                        ? done(fromCache(callHash, hit.get()))
                        : expired(call)
                                ? done(expiredInQueue(call, callHash, startedAt))
                                : !cacheable(spec)
                                        ? execute(call, resolution.tool(), callHash, prepared.arguments(), startedAt)
                                        : claimed(
                                                call,
                                                callHash,
                                                startedAt,
                                                CLAIM_FIRST_WAIT_MS,
                                                () -> execute(
                                                        call,
                                                        resolution.tool(),
                                                        callHash,
                                                        prepared.arguments(),
                                                        startedAt)));
    }

    /**
     * Runs a cacheable call only under its claim ({@link ToolResultCache#claim}), so that it runs on
     * one worker at a time: after a rebalance, the partition's new owner reads a call that its old
     * owner may still be running. While another worker holds the claim, this one waits, looking in
     * the cache with backoff: the holder's result arrives there, or its claim ends (it failed, or it
     * died and the lease ran out) and this worker claims and runs the call itself. A cache that
     * cannot be asked runs the call unclaimed, as it runs it uncached.
     */
    private CompletionStage<ToolResult> claimed(
            ToolCall call, String callHash, long startedAt, long waitMs, Supplier<CompletionStage<ToolResult>> run) {
        ToolSpec spec = call.getTool();
        Instant deadline = deadline(call, startedAt);
        Duration lease =
                Duration.ofMillis(Math.max(1, deadline.toEpochMilli() - System.currentTimeMillis()) + LEASE_MARGIN_MS);
        CompletionStage<Boolean> claim;
        try {
            claim = cache.claim(callHash, owner, lease);
        } catch (RuntimeException e) {
            claim = CompletableFuture.failedFuture(e);
        }
        return claim.exceptionally(e -> {
                    metrics.cacheBypassed(spec.getName());
                    cacheWarning.warn(
                            LOGGER,
                            "result cache claim failed; running the call unclaimed: callHash={} tool={} error={}",
                            callHash,
                            spec.getName(),
                            rootMessage(e));
                    return true;
                })
                .thenCompose(held -> {
                    if (held) {
                        return run.get().whenComplete((result, e) -> release(callHash));
                    }
                    counters.claimWait();
                    if (System.currentTimeMillis() + waitMs >= deadline.toEpochMilli()) {
                        LOGGER.debug(
                                "tool call held by another worker past its deadline, not run here: callHash={} tool={}",
                                callHash,
                                spec.getName());
                        return done(notRun(failed(
                                callHash,
                                spec,
                                ToolStatus.TIMEOUT,
                                "tool '" + spec.getName()
                                        + "' was being run by another tool worker until this call's deadline; it was not run twice",
                                startedAt,
                                0)));
                    }
                    LOGGER.debug(
                            "tool call is being run by another worker; waiting for its result: callHash={} tool={} waitMs={}",
                            callHash,
                            spec.getName(),
                            waitMs);
                    CompletableFuture<ToolResult> later = new CompletableFuture<>();
                    timer.schedule(
                            () -> lookUp(spec, callHash)
                                    .thenCompose(hit -> hit.isPresent()
                                            ? done(fromCache(callHash, hit.get()))
                                            : claimed(
                                                    call,
                                                    callHash,
                                                    startedAt,
                                                    Math.min(CLAIM_MAX_WAIT_MS, waitMs * 2),
                                                    run))
                                    .whenComplete((result, e) -> {
                                        if (e != null) {
                                            later.completeExceptionally(e);
                                        } else {
                                            later.complete(result);
                                        }
                                    }),
                            waitMs,
                            TimeUnit.MILLISECONDS);
                    return later;
                });
    }

    private void release(String callHash) {
        try {
            cache.release(callHash, owner).exceptionally(e -> null);
        } catch (RuntimeException e) {
            LOGGER.debug(
                    "result cache release failed; the claim runs out with its lease: callHash={} error={}",
                    callHash,
                    e.toString());
        }
    }

    private CompletionStage<ToolResult> execute(
            ToolCall call, Tool tool, String callHash, JsonNode arguments, long startedAt) {
        ToolSpec spec = call.getTool();
        Instant deadline = deadline(call, startedAt);
        ToolContext context = new ToolContext(callHash, call.getBatchId(), deadline);
        return limited(
                spec,
                deadline,
                startedAt,
                permit -> runTimed(tool.name(), callHash, deadline, permit, () -> {
                            LOGGER.trace(
                                    "tool call started: callHash={} tool={} arguments={}",
                                    callHash,
                                    tool.name(),
                                    arguments);
                            return tool.execute(arguments, context);
                        })
                        .thenApply(outcome -> {
                            metrics.executed(spec.getName(), outcome.ran(), 0);
                            if (outcome.timedOut()) {
                                return failed(
                                        callHash,
                                        spec,
                                        ToolStatus.TIMEOUT,
                                        timedOut(call, startedAt, deadline, 1),
                                        startedAt,
                                        0);
                            }
                            if (outcome.error() != null) {
                                LOGGER.trace(
                                        "tool call failed: callHash={} tool={}",
                                        callHash,
                                        tool.name(),
                                        outcome.error());
                                return failed(
                                        callHash,
                                        spec,
                                        ToolStatus.ERROR,
                                        "tool '" + tool.name() + "' failed: " + outcome.error(),
                                        startedAt,
                                        0);
                            }
                            String output = outcome.value();
                            return result(
                                    callHash, spec, ToolStatus.OK, output == null ? "" : output, null, startedAt, 0);
                        })
                        .thenCompose(result -> stored(spec, result)),
                callHash,
                refusal -> refusal);
    }

    // ---------------------------------------------------------------- a batched call

    private CompletionStage<List<ToolResult>> answerBatch(ToolCall call) {
        long startedAt = System.currentTimeMillis();
        ToolSpec spec = call.getTool();
        List<BatchItem> items = call.getBatchItems();
        items.forEach(item -> metrics.call(spec.getName()));
        ToolResult[] results = new ToolResult[items.size()];
        ToolResolver.Resolution resolution = resolver.resolve(spec);
        if (resolution.problem() != null) {
            for (int i = 0; i < items.size(); i++) {
                results[i] =
                        failed(items.get(i).getCallHash(), spec, ToolStatus.ERROR, resolution.problem(), startedAt, 0);
            }
            return done(Arrays.asList(results));
        }
        List<Integer> valid = new ArrayList<>();
        List<JsonNode> arguments = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            Prepared prepared =
                    prepare(spec, items.get(i).getCallHash(), items.get(i).getArgumentsJson(), startedAt);
            if (prepared.refusal() != null) {
                results[i] = prepared.refusal();
            } else {
                valid.add(i);
                arguments.add(prepared.arguments());
            }
        }
        List<CompletableFuture<Optional<ToolResult>>> lookups = valid.stream()
                .map(i -> lookUp(spec, items.get(i).getCallHash()).toCompletableFuture())
                .toList();
        return CompletableFuture.allOf(lookups.toArray(CompletableFuture[]::new))
                .thenCompose(ignored -> {
                    List<Integer> misses = new ArrayList<>();
                    List<JsonNode> missArguments = new ArrayList<>();
                    for (int k = 0; k < valid.size(); k++) {
                        int i = valid.get(k);
                        Optional<ToolResult> hit = lookups.get(k).join();
                        if (hit.isPresent()) {
                            results[i] = fromCache(items.get(i).getCallHash(), hit.get());
                        } else {
                            misses.add(i);
                            missArguments.add(arguments.get(k));
                        }
                    }
                    if (!misses.isEmpty() && expired(call)) {
                        misses.forEach(i ->
                                results[i] = expiredInQueue(call, items.get(i).getCallHash(), startedAt));
                        return done(Arrays.asList(results));
                    }
                    CompletionStage<Void> executed = misses.isEmpty()
                            ? done(null)
                            : resolution.tool() instanceof BatchTool batchTool
                                    ? executeBatch(call, batchTool, items, misses, missArguments, results, startedAt)
                                    : executeOneByOne(
                                            call, resolution.tool(), items, misses, missArguments, results, startedAt);
                    return executed.thenApply(done -> Arrays.asList(results));
                });
    }

    /** One run of the batch handler for every call that missed the cache. */
    private CompletionStage<Void> executeBatch(
            ToolCall call,
            BatchTool tool,
            List<BatchItem> items,
            List<Integer> misses,
            List<JsonNode> arguments,
            ToolResult[] results,
            long startedAt) {
        ToolSpec spec = call.getTool();
        int size = misses.size();
        Instant deadline = deadline(call, startedAt);
        ToolContext context = new ToolContext(call.getCallHash(), call.getBatchId(), deadline);
        CompletionStage<List<ToolResult>> answered = limited(
                spec,
                deadline,
                startedAt,
                permit -> runTimed(tool.name(), call.getCallHash(), deadline, permit, () -> {
                            LOGGER.trace(
                                    "batched tool call started: callHash={} tool={} items={} arguments={}",
                                    call.getCallHash(),
                                    tool.name(),
                                    size,
                                    arguments);
                            return tool.executeBatch(List.copyOf(arguments), context);
                        })
                        .thenApply(outcome -> {
                            metrics.executed(spec.getName(), outcome.ran(), size);
                            List<ToolResult> answers = new ArrayList<>(size);
                            for (int k = 0; k < size; k++) {
                                String hash = items.get(misses.get(k)).getCallHash();
                                answers.add(batchItemResult(
                                        call, tool.name(), hash, outcome, k, size, startedAt, deadline));
                            }
                            LOGGER.debug(
                                    "batched tool call ran: callHash={} tool={} items={} timedOut={}",
                                    call.getCallHash(),
                                    tool.name(),
                                    size,
                                    outcome.timedOut());
                            return answers;
                        }),
                call.getCallHash(),
                failure -> {
                    List<ToolResult> answers = new ArrayList<>(size);
                    misses.forEach(i -> answers.add(ToolResults.copyOf(failure)
                            .setCallHash(items.get(i).getCallHash())
                            .build()));
                    return answers;
                });
        return answered.thenCompose(answers -> CompletableFuture.allOf(answers.stream()
                        .map(answer -> stored(spec, answer).toCompletableFuture())
                        .toArray(CompletableFuture[]::new))
                .thenRun(() -> {
                    for (int k = 0; k < size; k++) {
                        results[misses.get(k)] = answers.get(k);
                    }
                }));
    }

    private ToolResult batchItemResult(
            ToolCall call,
            String tool,
            String hash,
            Outcome<List<BatchTool.Outcome>> outcome,
            int k,
            int size,
            long startedAt,
            Instant deadline) {
        ToolSpec spec = call.getTool();
        if (outcome.timedOut()) {
            return failed(hash, spec, ToolStatus.TIMEOUT, timedOut(call, startedAt, deadline, size), startedAt, size);
        }
        if (outcome.error() != null) {
            return failed(
                    hash, spec, ToolStatus.ERROR, "tool '" + tool + "' failed: " + outcome.error(), startedAt, size);
        }
        List<BatchTool.Outcome> outcomes = outcome.value();
        if (outcomes == null || outcomes.size() != size) {
            return failed(
                    hash,
                    spec,
                    ToolStatus.ERROR,
                    "tool '" + tool + "' failed: its batch handler returned "
                            + (outcomes == null ? "nothing" : outcomes.size() + " results") + " for " + size + " calls",
                    startedAt,
                    size);
        }
        BatchTool.Outcome one = outcomes.get(k);
        if (one == null) {
            return failed(
                    hash,
                    spec,
                    ToolStatus.ERROR,
                    "tool '" + tool + "' failed: its batch handler returned no result for this call",
                    startedAt,
                    size);
        }
        return one.error() != null
                ? failed(hash, spec, ToolStatus.ERROR, "tool '" + tool + "': " + one.error(), startedAt, size)
                : result(hash, spec, ToolStatus.OK, one.output(), null, startedAt, size);
    }

    /** A batchable declaration whose tool has no batch handler: each call runs on its own. */
    private CompletionStage<Void> executeOneByOne(
            ToolCall call,
            Tool tool,
            List<BatchItem> items,
            List<Integer> misses,
            List<JsonNode> arguments,
            ToolResult[] results,
            long startedAt) {
        List<CompletableFuture<Void>> runs = new ArrayList<>();
        for (int k = 0; k < misses.size(); k++) {
            int i = misses.get(k);
            runs.add(execute(call, tool, items.get(i).getCallHash(), arguments.get(k), startedAt)
                    .thenAccept(result -> results[i] = result)
                    .toCompletableFuture());
        }
        return CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new));
    }

    // ---------------------------------------------------------------- steps shared by both

    private record Prepared(JsonNode arguments, ToolResult refusal) {}

    /** Parses and validates one call's arguments against the declaration, or refuses them. */
    private Prepared prepare(ToolSpec spec, String callHash, String argumentsJson, long startedAt) {
        String name = spec.getName();
        JsonNode arguments;
        try {
            arguments = parseArguments(argumentsJson);
        } catch (JsonProcessingException e) {
            return new Prepared(
                    null,
                    refused(
                            callHash,
                            spec,
                            "the arguments of tool '" + name + "' are not valid JSON: " + e.getOriginalMessage(),
                            startedAt));
        }
        List<String> problems;
        try {
            problems = schemas.problems(spec.getParametersJson(), arguments);
        } catch (IllegalArgumentException e) {
            return new Prepared(
                    null,
                    refused(
                            callHash,
                            spec,
                            "tool '" + name
                                    + "' cannot be called: the batch declares it with a parameters schema that is "
                                    + e.getMessage(),
                            startedAt));
        }
        if (!problems.isEmpty()) {
            LOGGER.debug(
                    "tool call arguments break the schema: callHash={} tool={} problems={}",
                    callHash,
                    name,
                    problems.size());
            return new Prepared(
                    null,
                    refused(
                            callHash,
                            spec,
                            "the arguments of tool '" + name
                                    + "' do not match its parameters schema: " + String.join("; ", problems)
                                    + ". Call it again with arguments that do.",
                            startedAt));
        }
        return new Prepared(arguments, null);
    }

    private static JsonNode parseArguments(String argumentsJson) throws JsonProcessingException {
        JsonNode arguments = JSON.readTree(argumentsJson);
        // Models send "" for a call without arguments.
        return arguments == null || arguments.isMissingNode() ? JSON.createObjectNode() : arguments;
    }

    private CompletionStage<Optional<ToolResult>> lookUp(ToolSpec spec, String callHash) {
        if (!cacheable(spec)) {
            return done(Optional.empty());
        }
        CompletionStage<Optional<ToolResult>> lookup;
        try {
            lookup = cache.get(callHash);
        } catch (RuntimeException e) {
            lookup = CompletableFuture.failedFuture(e);
        }
        // A cache that cannot answer costs an execution, never the call.
        return lookup.exceptionally(e -> {
            metrics.cacheBypassed(spec.getName());
            cacheWarning.warn(
                    LOGGER,
                    "result cache lookup failed; running the call without it: callHash={} tool={} error={}",
                    callHash,
                    spec.getName(),
                    rootMessage(e));
            return Optional.empty();
        });
    }

    private ToolResult fromCache(String callHash, ToolResult cached) {
        counters.cacheHit();
        metrics.cacheHit(cached.getTool());
        long now = System.currentTimeMillis();
        // The timings describe this answer, which took no tool time.
        return ToolResults.copyOf(cached)
                .setCallHash(callHash)
                .setExecuted(false)
                .setStartedAtMs(now)
                .setFinishedAtMs(now)
                .setBatchSize(0)
                .build();
    }

    /**
     * Runs {@code body} under a permit of the tool's limits. The body owns the permit and releases it
     * when its execution really ends ({@link #runTimed}). If no permit, or no tool thread, comes
     * before the deadline, {@code onRefused} turns the TIMEOUT result (nothing ran) into what the
     * caller returns.
     */
    private <T> CompletionStage<T> limited(
            ToolSpec spec,
            Instant deadline,
            long startedAt,
            Function<ToolLimiter.Permit, CompletionStage<T>> body,
            String callHash,
            Function<ToolResult, T> onRefused) {
        ToolLimiter.Limits limits = limits(spec);
        long asked = System.nanoTime();
        CompletionStage<ToolLimiter.Permit> permit;
        try {
            permit = limiter.acquire(spec.getName(), limits, deadline);
        } catch (RuntimeException e) {
            permit = CompletableFuture.failedFuture(e);
        }
        CompletableFuture<T> outcome = new CompletableFuture<>();
        permit.whenComplete((granted, error) -> {
            if (error != null) {
                Throwable cause =
                        error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
                if (cause instanceof RejectedExecutionException) {
                    return; // the worker is stopping; the record will be processed again
                }
                ToolResult refusal = cause instanceof LimitTimeoutException
                        ? notRun(failed(callHash, spec, ToolStatus.TIMEOUT, cause.getMessage(), startedAt, 0))
                        : failed(
                                callHash,
                                spec,
                                ToolStatus.ERROR,
                                "tool '" + spec.getName() + "' could not be admitted by its limits: " + cause,
                                startedAt,
                                0);
                outcome.complete(onRefused.apply(refusal));
                return;
            }
            if (!limits.unlimited()) {
                metrics.limitWait(spec.getName(), Duration.ofNanos(System.nanoTime() - asked));
            }
            CompletionStage<T> ran;
            try {
                ran = body.apply(granted);
            } catch (RuntimeException e) {
                granted.release();
                ran = CompletableFuture.failedFuture(e);
            }
            ran.whenComplete((value, failure) -> {
                Throwable cause = failure instanceof CompletionException && failure.getCause() != null
                        ? failure.getCause()
                        : failure;
                if (cause instanceof LimitTimeoutException busy) { // no tool thread was free in time
                    outcome.complete(onRefused.apply(
                            notRun(failed(callHash, spec, ToolStatus.TIMEOUT, busy.getMessage(), startedAt, 0))));
                } else if (failure != null) {
                    outcome.completeExceptionally(failure);
                } else {
                    outcome.complete(value);
                }
            });
        });
        return outcome;
    }

    /** What a run came to: a value, a thrown error, or a timeout; and how long it ran. */
    private record Outcome<T>(T value, Throwable error, boolean timedOut, Duration ran) {}

    /**
     * Runs {@code body} on a tool thread once one is free for {@code tool}; completes with its
     * outcome, or with a timeout at the deadline (interrupting the thread). Releases {@code permit}
     * when the body really returns, or at once if it never starts. Fails with
     * {@link LimitTimeoutException} if no thread is free before the deadline. Never completes if the
     * worker is stopping (the record was not committed and will run again elsewhere).
     */
    private <T> CompletionStage<Outcome<T>> runTimed(
            String tool, String callHash, Instant deadline, ToolLimiter.Permit permit, Callable<T> body) {
        CompletableFuture<Outcome<T>> outcome = new CompletableFuture<>();
        AtomicLong began = new AtomicLong(System.nanoTime());
        threads.start(tool, deadline, () -> {
                    counters.executionStarted(tool);
                    began.set(System.nanoTime());
                    try {
                        T value = body.call();
                        outcome.complete(new Outcome<>(value, null, false, since(began.get())));
                    } catch (Throwable e) {
                        // Whatever the tool threw is the agent's answer; if it timed out, the timeout already won.
                        outcome.complete(new Outcome<>(null, e, false, since(began.get())));
                    }
                })
                .whenComplete((run, error) -> {
                    if (error != null) {
                        permit.release();
                        Throwable cause = error instanceof CompletionException && error.getCause() != null
                                ? error.getCause()
                                : error;
                        if (cause instanceof LimitTimeoutException) {
                            outcome.completeExceptionally(cause);
                        }
                        return; // else rejected: the worker is stopping
                    }
                    run.ended().whenComplete((ignored, e) -> permit.release());
                    long delayMs = Math.max(0, deadline.toEpochMilli() - System.currentTimeMillis());
                    ScheduledFuture<?> timeout;
                    try {
                        timeout = timer.schedule(
                                () -> {
                                    if (outcome.complete(new Outcome<>(null, null, true, since(began.get())))) {
                                        run.interrupt();
                                        LOGGER.debug("tool call timed out: callHash={} tool={}", callHash, tool);
                                    }
                                },
                                delayMs,
                                TimeUnit.MILLISECONDS);
                    } catch (RejectedExecutionException e) {
                        run.interrupt();
                        return;
                    }
                    outcome.whenComplete((result, e) -> timeout.cancel(false));
                });
        return outcome;
    }

    // ---------------------------------------------------------------- publishing

    private CompletionStage<?> publish(ToolCall call, List<ToolResult> results) {
        List<CompletableFuture<RecordMetadata>> sends = new ArrayList<>(results.size());
        for (ToolResult result : results) {
            if (result.getStatus() != ToolStatus.OK) {
                counters.failure(result.getStatus() == ToolStatus.TIMEOUT);
                metrics.error(result.getTool(), result.getStatus());
            }
            LOGGER.debug(
                    "tool call answered: callHash={} tool={} status={} executed={} batchSize={} ms={}",
                    result.getCallHash(),
                    result.getTool(),
                    result.getStatus(),
                    result.getExecuted(),
                    result.getBatchSize(),
                    result.getFinishedAtMs() - result.getStartedAtMs());
            LOGGER.trace(
                    "tool call output: callHash={} tool={} output={}",
                    result.getCallHash(),
                    result.getTool(),
                    result.getOutput());
            String topic = topics.toolResults().name();
            sends.add(send(
                            topic,
                            resultKeySerializer.serialize(topic, result.getCallHash()),
                            withinBudget(topic, call.getTool(), result))
                    .toCompletableFuture());
        }
        return CompletableFuture.allOf(sends.toArray(CompletableFuture[]::new));
    }

    /** The serialized result; one over the record budget becomes an ERROR result saying so (the agent sees why). */
    private byte[] withinBudget(String topic, ToolSpec spec, ToolResult result) {
        try {
            return resultSerializer.serialize(topic, result);
        } catch (OversizedRecordException e) {
            LOGGER.warn(
                    "tool result over the record budget: callHash={} tool={} bytes={} limit={}",
                    result.getCallHash(),
                    result.getTool(),
                    e.sizeBytes(),
                    e.limitBytes());
            String error =
                    "the output of tool '" + spec.getName() + "' is " + e.sizeBytes() + " bytes serialized, over the "
                            + "record limit of " + e.limitBytes() + " bytes; lower its max_output_chars";
            return resultSerializer.serialize(
                    topic,
                    ToolResult.newBuilder(result)
                            .setStatus(ToolStatus.ERROR)
                            .setOutput(error)
                            .setError(error)
                            .build());
        }
    }

    /**
     * Stores a cacheable call's successful result as soon as it exists, before it is published and
     * before the call's claim is released, so that a worker that dies after this point never makes
     * another run it: the next owner of the record finds it in the cache. Completes with the result
     * once the cache answered; a lost cache write costs a later execution, not this answer.
     */
    private CompletionStage<ToolResult> stored(ToolSpec spec, ToolResult result) {
        if (result.getStatus() != ToolStatus.OK || !result.getExecuted() || !cacheable(spec)) {
            return done(result);
        }
        return put(spec, result).handle((ignored, e) -> {
            if (e != null) {
                LOGGER.debug(
                        "result cache write failed; trying again in the background: callHash={} tool={} error={}",
                        result.getCallHash(),
                        spec.getName(),
                        rootMessage(e));
                storeLater(spec, result, 1);
            }
            return result;
        });
    }

    /**
     * Tries a failed cache write again, {@link #STORE_RETRIES} times at doubling intervals from one second:
     * a Redis that missed one command timeout (a GC pause, a busy host) must not cost a second execution of
     * a call that already ran. The answer does not wait for these.
     */
    private void storeLater(ToolSpec spec, ToolResult result, int retry) {
        try {
            timer.schedule(
                    () -> put(spec, result).whenComplete((ignored, e) -> {
                        if (e == null) {
                            LOGGER.debug(
                                    "result cache write succeeded on retry {}: callHash={}",
                                    retry,
                                    result.getCallHash());
                        } else if (retry < STORE_RETRIES) {
                            storeLater(spec, result, retry + 1);
                        } else {
                            metrics.cacheBypassed(spec.getName());
                            cacheWarning.warn(
                                    LOGGER,
                                    "result cache write failed {} times; the result is not shared: callHash={} tool={} "
                                            + "error={}",
                                    retry + 1,
                                    result.getCallHash(),
                                    spec.getName(),
                                    rootMessage(e));
                        }
                    }),
                    1_000L << (retry - 1),
                    TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            LOGGER.debug("worker stopping; cache write not retried: callHash={}", result.getCallHash());
        }
    }

    private CompletionStage<Void> put(ToolSpec spec, ToolResult result) {
        try {
            return cache.put(result.getCallHash(), result, Duration.ofMillis(spec.getCacheTtlMs()));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private CompletionStage<?> deadLetter(ConsumerRecord<byte[], byte[]> record, RuntimeException error) {
        counters.deadLetter();
        String reason = "undecodable ToolCall: " + error.getMessage();
        LOGGER.warn(
                "dead-lettering a tool-calls record: topic={} partition={} offset={} reason={}",
                record.topic(),
                record.partition(),
                record.offset(),
                reason);
        DeadLetter letter = DeadLetter.newBuilder()
                .setStage(STAGE)
                .setTopic(record.topic())
                .setPartition(record.partition())
                .setOffset(record.offset())
                .setKey(record.key() == null ? null : ByteBuffer.wrap(record.key()))
                .setValue(record.value() == null ? null : ByteBuffer.wrap(record.value()))
                .setReason(reason)
                .setExceptionClass(error.getClass().getName())
                .setRecordedAtMs(System.currentTimeMillis())
                .build();
        String topic = topics.deadLetters().name();
        return CompletableFuture.completedFuture(letter)
                .thenComposeAsync(l -> send(topic, record.key(), deadLetterSerializer.serialize(topic, l)), publishing);
    }

    private CompletionStage<RecordMetadata> send(String topic, byte[] key, byte[] value) {
        CompletableFuture<RecordMetadata> acked = new CompletableFuture<>();
        try {
            producer.send(new ProducerRecord<>(topic, key, value), (metadata, e) -> {
                if (e == null) {
                    acked.complete(metadata);
                } else {
                    acked.completeExceptionally(e);
                }
            });
        } catch (RuntimeException e) {
            acked.completeExceptionally(e);
        }
        return acked;
    }

    // ---------------------------------------------------------------- results

    private static ToolResult failed(
            String callHash, ToolSpec spec, ToolStatus status, String error, long startedAt, int batchSize) {
        return result(callHash, spec, status, error, error, startedAt, batchSize);
    }

    /** A refusal before anything ran (bad arguments): not an execution. */
    private static ToolResult refused(String callHash, ToolSpec spec, String error, long startedAt) {
        return ToolResults.copyOf(failed(callHash, spec, ToolStatus.ERROR, error, startedAt, 0))
                .setExecuted(false)
                .build();
    }

    /** The result the agent sees: output (for a failure, the error text) capped at the spec's limit. */
    private static ToolResult result(
            String callHash,
            ToolSpec spec,
            ToolStatus status,
            String output,
            String error,
            long startedAt,
            int batchSize) {
        int maxChars = spec.getMaxOutputChars();
        return ToolResult.newBuilder()
                .setCallHash(callHash)
                .setTool(spec.getName())
                .setStatus(status)
                .setOutput(OutputLimit.truncate(output, maxChars))
                .setError(error == null ? null : OutputLimit.truncate(error, maxChars))
                .setExecuted(true)
                .setStartedAtMs(startedAt)
                .setFinishedAtMs(System.currentTimeMillis())
                .setBatchSize(batchSize)
                .build();
    }

    /** A refusal after which nothing ran. */
    private static ToolResult notRun(ToolResult result) {
        return ToolResults.copyOf(result).setExecuted(false).build();
    }

    /**
     * Says how a call ran out of time: after its whole timeout, or sooner, at the deadline it was
     * dispatched with, because it had waited in the queue.
     */
    private static String timedOut(ToolCall call, long startedAt, Instant deadline, int calls) {
        ToolSpec spec = call.getTool();
        long timeout = ToolTimeouts.timeoutMs(spec);
        long allowed = deadline.toEpochMilli() - startedAt;
        String how = allowed >= timeout
                ? timeout + " ms"
                : allowed + " ms, at its deadline (it had waited " + Math.max(0, startedAt - call.getDispatchedAtMs())
                        + " ms to be picked up; its timeout is " + timeout + " ms)";
        return "tool '" + spec.getName() + "' timed out after " + how
                + (calls > 1 ? " (a batch of " + calls + " calls)" : "");
    }

    /** Whether the call's deadline passed before it could start here. */
    private static boolean expired(ToolCall call) {
        return call.getDeadlineMs() > 0 && System.currentTimeMillis() >= call.getDeadlineMs();
    }

    /** The answer to a call whose deadline passed in the queue: TIMEOUT, and the tool never ran. */
    private ToolResult expiredInQueue(ToolCall call, String callHash, long startedAt) {
        ToolSpec spec = call.getTool();
        counters.expiredCall();
        metrics.expiredInQueue(spec.getName());
        long queuedMs = Math.max(0, System.currentTimeMillis() - call.getDispatchedAtMs());
        LOGGER.debug(
                "tool call expired in queue, not run: callHash={} tool={} queuedMs={}",
                callHash,
                spec.getName(),
                queuedMs);
        return notRun(failed(
                callHash,
                spec,
                ToolStatus.TIMEOUT,
                "tool '" + spec.getName() + "' expired in queue after "
                        + queuedMs
                        + " ms and was not run: no tool worker could pick it up before its deadline (its timeout is "
                        + ToolTimeouts.timeoutMs(spec) + " ms; the rest was its allowance for waiting in the queue)",
                startedAt,
                0));
    }

    /** Only results the batch declared reusable, for a positive time, are cached. */
    static boolean cacheable(ToolSpec spec) {
        return spec.getCacheable() && spec.getCacheTtlMs() > 0;
    }

    /** When a call picked up at {@code startedAt} must be answered: its timeout from pickup, or its deadline if sooner. */
    private static Instant deadline(ToolCall call, long startedAt) {
        long byTimeout = startedAt + ToolTimeouts.timeoutMs(call.getTool());
        return Instant.ofEpochMilli(call.getDeadlineMs() > 0 ? Math.min(byTimeout, call.getDeadlineMs()) : byTimeout);
    }

    private static ToolLimiter.Limits limits(ToolSpec spec) {
        return new ToolLimiter.Limits(
                Math.max(0, spec.getRateLimitPerSecond()),
                Math.max(0, spec.getMaxConcurrency()),
                Duration.ofMillis(ToolTimeouts.timeoutMs(spec) + LEASE_MARGIN_MS));
    }

    private static <T> CompletionStage<T> done(T value) {
        return CompletableFuture.completedFuture(value);
    }

    private static Duration since(long nanos) {
        return Duration.ofNanos(System.nanoTime() - nanos);
    }

    private static String rootMessage(Throwable error) {
        Throwable root = error;
        while ((root instanceof CompletionException || root.getCause() != null)
                && root.getCause() != null
                && root.getCause() != root) {
            root = root.getCause();
        }
        return root.toString();
    }
}
