package io.batchagent.inference;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.Compaction;
import io.batchagent.events.CompactionMode;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobError;
import io.batchagent.events.JobStatus;
import io.batchagent.events.Role;
import io.batchagent.events.Timings;
import io.batchagent.events.ToolCallRef;
import io.batchagent.events.ToolRequest;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.events.Usage;
import io.batchagent.schemas.CallHash;
import io.batchagent.schemas.Faults;
import io.batchagent.schemas.JobHeaders;
import io.batchagent.schemas.Topics;
import io.batchagent.schemas.Topics.Topic;
import io.batchagent.worker.RetryingSender;
import io.batchagent.worker.RetryingSender.FailureKind;
import io.batchagent.worker.RetryingSender.SendFailedException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Handles one record of agent-turns: one model call, then either the agent's final result or its
 * tool requests and the record that it now waits for them.
 *
 * <p>The model call is an {@link AgentPrompt} (the batch's shared part, the agent's messages and its
 * {@link SchedulingHints}: continuing agents before new ones, whether more turns may follow, the output
 * length expected from the batch's earlier turns) that the engine client renders in its engine's format.
 * Before a batch's first call, its shared prefix is warmed ({@link BatchWarmer}, when enabled); every turn
 * of the batch waits for that, and its result carries the warm-up's outcome.
 *
 * <p>Every outcome is data: an unknown batch, an unusable spec, an engine failure or an invalid answer
 * becomes a FAILED {@link AgentResult}; an undecodable record becomes a {@link DeadLetter} (plus a
 * FAILED result when its key names a job, with the batch id of its {@link JobHeaders}); an unexpected
 * error while handling a turn ends its job FAILED (OTHER). A record that could not be decoded because of
 * a transient fault (a schema registry outage) is not dead-lettered: it is decoded again, with backoff,
 * until the fault is over. Every record published carries {@link JobHeaders}. The returned stage
 * completes once every record produced for the turn is acknowledged.
 *
 * <p>Every outcome of a turn goes to agent-waits, keyed by job id, for the turn assembler to decide
 * once per (job, attempt, turn): the waiting turn, the final result (in {@code AgentTurn.finalResult}),
 * or a repair turn to continue at once. So a turn run twice (replay, rebalance) that answers
 * differently the second time cannot end its job twice or continue it twice.
 *
 * <p>Publishing: a turn's records are sent through a {@link RetryingSender}, so a retriable send failure
 * is retried without calling the model again. A failure that cannot be retried (a record over a size
 * limit, an invalid record, retries used up) ends the job FAILED with RECORD_TOO_LARGE or PUBLISH_FAILED
 * and a message naming the topic, the record's size and the cause, through a small result record that
 * carries no conversation. Only if that record cannot be written either does the stage complete
 * exceptionally, with an {@link UnpublishedOutcomeException}: the consumer loop then stops without
 * committing the turn. The stage also completes exceptionally, publishing nothing, when the turn is
 * abandoned ({@link #abandon()}, or the spec lookup stopped): it is handled again after a restart.
 *
 * <p>{@link #handle} does not block: the spec lookup and the model call are asynchronous, and all
 * work after them runs on the given executor, never on the engine client's I/O threads.
 * Thread-safe.
 */
final class TurnHandler {

    static final String STAGE = "inference";
    static final String HEADER_STAGE = "batchagent.dlq.stage";
    static final String HEADER_REASON = "batchagent.dlq.reason";
    static final String HEADER_EXCEPTION = "batchagent.dlq.exception";

    private static final Logger LOGGER = LoggerFactory.getLogger(TurnHandler.class);
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final int PREPARED_BATCHES = 256;
    private static final long FIRST_DECODE_RETRY_MS = 200;
    private static final long MAX_DECODE_RETRY_MS = 5_000;

    /** Neither a turn's outcome nor the FAILED result standing for it could be published. */
    static final class UnpublishedOutcomeException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        UnpublishedOutcomeException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** The turn was left unhandled, publishing nothing, because the worker is stopping or cannot read specs. */
    static final class AbandonedTurnException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        AbandonedTurnException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** What a worker counts; exposed through {@link InferenceWorker}. */
    static final class Counters {
        final AtomicLong outcomesReplaced = new AtomicLong();
        final AtomicLong turnsHandled = new AtomicLong();
        final AtomicLong engineFailures = new AtomicLong();
        final AtomicLong toolRequests = new AtomicLong();
        final AtomicLong succeeded = new AtomicLong();
        final AtomicLong failed = new AtomicLong();
        final AtomicLong deadLetters = new AtomicLong();
        final AtomicLong compactions = new AtomicLong();
        /** Told the job id of every agent whose final result (whatever its status) this worker publishes. */
        volatile java.util.function.Consumer<String> onFinished = jobId -> {};
    }

    private final Topics topics;
    private final BatchSpecLookup specs;
    private final EngineClient engine;
    private final Executor executor;
    private final LongSupplier clock;
    private final Counters counters;
    private final BatchWarmer warmer;
    private final ConversationCompactor compactor;
    private final ToolOutputs outputs;
    private final RetryingSender<String, byte[]> sender;
    private final Deserializer<Decoded<AgentTurn>> turnDecoder;
    private volatile boolean abandoned;
    private final OutputLengthEstimator lengths = new OutputLengthEstimator();
    private final SchedulingPolicy scheduling;
    private final Map<String, PreparedBatch> prepared = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, PreparedBatch> eldest) {
            return size() > PREPARED_BATCHES;
        }
    };

    /**
     * @param producer shared, idempotent; values are the topics' serialized records
     * @param executor runs everything after the spec lookup and the model call
     * @param clock wall-clock milliseconds
     */
    TurnHandler(
            Topics topics,
            BatchSpecLookup specs,
            EngineClient engine,
            Producer<String, byte[]> producer,
            Executor executor,
            LongSupplier clock,
            Counters counters) {
        this(topics, specs, engine, producer, executor, clock, counters, BatchWarmer.disabled());
    }

    /** @param warmer warms each batch's shared prefix before its turns; {@link BatchWarmer#disabled()} for none */
    TurnHandler(
            Topics topics,
            BatchSpecLookup specs,
            EngineClient engine,
            Producer<String, byte[]> producer,
            Executor executor,
            LongSupplier clock,
            Counters counters,
            BatchWarmer warmer) {
        this(topics, specs, engine, producer, executor, clock, counters, warmer, RetryingSender.Policy.defaults());
    }

    /** @param publishing how a retriable send failure is retried */
    TurnHandler(
            Topics topics,
            BatchSpecLookup specs,
            EngineClient engine,
            Producer<String, byte[]> producer,
            Executor executor,
            LongSupplier clock,
            Counters counters,
            BatchWarmer warmer,
            RetryingSender.Policy publishing) {
        this(
                topics,
                specs,
                engine,
                producer,
                executor,
                clock,
                counters,
                warmer,
                publishing,
                ToolOutputs.none(),
                SchedulingPolicy.DEFAULT);
    }

    /**
     * @param outputs reads back the tool outputs that a turn's messages hold by reference; not closed here
     * @param scheduling the worker's dispatch policy: it sets the engine priority of each call
     */
    TurnHandler(
            Topics topics,
            BatchSpecLookup specs,
            EngineClient engine,
            Producer<String, byte[]> producer,
            Executor executor,
            LongSupplier clock,
            Counters counters,
            BatchWarmer warmer,
            RetryingSender.Policy publishing,
            ToolOutputs outputs,
            SchedulingPolicy scheduling) {
        this.scheduling = scheduling;
        this.outputs = outputs;
        this.sender = new RetryingSender<>(producer, publishing, executor);
        this.turnDecoder = Decoded.lenient(topics.agentTurns().valueSerde().deserializer());
        this.warmer = warmer;
        this.compactor = new ConversationCompactor(engine, topics.limits());
        this.topics = topics;
        this.specs = specs;
        this.engine = engine;
        this.executor = executor;
        this.clock = clock;
        this.counters = counters;
    }

    /** The output length expected of {@code turn} in {@code batchId}, from the batch's calls so far. */
    OptionalInt expectedOutputTokens(String batchId, int turn) {
        return lengths.estimate(batchId, turn);
    }

    /** Starts handling {@code record}; see the class contract. */
    CompletableFuture<Void> handle(ConsumerRecord<String, Decoded<AgentTurn>> record) {
        if (abandoned) {
            return CompletableFuture.failedFuture(new AbandonedTurnException(
                    "the worker is stopping; " + record.topic() + "-" + record.partition() + "@" + record.offset()
                            + " was not started",
                    null));
        }
        Decoded<AgentTurn> decoded = record.value();
        if (decoded != null && !decoded.ok() && Faults.isRetriable(decoded.error())) {
            LOGGER.warn(
                    "turn not decodable now, decoding it again until the fault is over: topic={} partition={} "
                            + "offset={} jobId={} cause={}",
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    record.key(),
                    decoded.error().getMessage());
            return decodeAgain(record, FIRST_DECODE_RETRY_MS);
        }
        if (decoded == null || !decoded.ok()) {
            return deadLetter(record, decoded);
        }
        AgentTurn turn = decoded.value();
        long queuedMs = Math.max(0, clock.getAsLong() - turn.getEmittedAtMs());
        // Tool outputs held by reference are read back first: everything below sees the whole conversation.
        return outputs.hydrate(turn)
                .thenCompose(whole -> specs.get(whole.getBatchId())
                        .handleAsync(
                                (spec, error) -> error == null
                                        ? callEngine(whole, spec, queuedMs)
                                        : unknownBatch(whole, error, queuedMs),
                                executor)
                        .thenCompose(Function.identity()))
                .exceptionallyCompose(error -> afterUnexpectedError(turn, error))
                .whenComplete((ignored, error) -> {
                    if (error == null) { // abandoned and unpublished turns are not handled: they come again
                        counters.turnsHandled.incrementAndGet();
                    }
                });
    }

    /** Decodes the record's bytes again after {@code backoffMs}, then handles it; backs off further while the fault lasts. */
    private CompletableFuture<Void> decodeAgain(ConsumerRecord<String, Decoded<AgentTurn>> record, long backoffMs) {
        Executor later = CompletableFuture.delayedExecutor(backoffMs, TimeUnit.MILLISECONDS, executor);
        return CompletableFuture.supplyAsync(
                        () -> new ConsumerRecord<>(
                                record.topic(),
                                record.partition(),
                                record.offset(),
                                record.timestamp(),
                                record.timestampType(),
                                record.serializedKeySize(),
                                record.serializedValueSize(),
                                record.key(),
                                turnDecoder.deserialize(
                                        record.topic(),
                                        record.headers(),
                                        record.value().raw()),
                                record.headers(),
                                record.leaderEpoch()),
                        later)
                .thenCompose(again -> abandoned
                                || again.value().ok()
                                || !Faults.isRetriable(again.value().error())
                        ? handle(again)
                        : decodeAgain(again, Math.min(backoffMs * 2, MAX_DECODE_RETRY_MS)));
    }

    /**
     * Stops publishing, for good: from now on no turn publishes anything (a retry waiting for its backoff
     * gives up), so a worker that stops cannot publish an outcome it did not commit, nor a false failure.
     */
    void abandon() {
        abandoned = true;
        sender.stop();
    }

    /**
     * A turn whose handling failed other than by publishing: an outcome over the record budget (refused
     * when serialized, before any send) ends the job FAILED with RECORD_TOO_LARGE, a bug-level error with
     * OTHER, both through the small result; an abandoned or unpublishable turn stays failed, for the loop
     * to stop on.
     */
    private CompletableFuture<Void> afterUnexpectedError(AgentTurn turn, Throwable error) {
        Throwable cause = unwrap(error);
        if (cause instanceof UnpublishedOutcomeException || cause instanceof AbandonedTurnException) {
            return CompletableFuture.failedFuture(cause);
        }
        if (cause instanceof ToolOutputs.UnreadableOutputException) {
            LOGGER.error(
                    "a tool output of the conversation cannot be read; ending the job FAILED: jobId={} turn={} message={}",
                    turn.getJobId(),
                    turn.getTurn(),
                    cause.getMessage());
            return publishInstead(
                    turn,
                    turn.getUsage(),
                    turn.getTimings(),
                    ErrorReason.OTHER,
                    "turn " + turn.getTurn() + " cannot be built: " + cause.getMessage(),
                    cause);
        }
        if (RetryingSender.classify(cause) == FailureKind.TOO_LARGE) {
            String message = "the outcome of turn " + turn.getTurn() + " is over the record size limit and was not "
                    + "published: " + cause.getMessage();
            LOGGER.error(
                    "turn outcome over the record size limit; ending the job FAILED instead: jobId={} turn={} message={}",
                    turn.getJobId(),
                    turn.getTurn(),
                    message);
            return publishInstead(
                    turn, turn.getUsage(), turn.getTimings(), ErrorReason.RECORD_TOO_LARGE, message, cause);
        }
        LOGGER.error(
                "turn failed unexpectedly; ending the job FAILED: jobId={} turn={}",
                turn.getJobId(),
                turn.getTurn(),
                cause);
        return publishInstead(
                turn,
                turn.getUsage(),
                turn.getTimings(),
                ErrorReason.OTHER,
                "the inference worker failed on turn " + turn.getTurn() + ": " + cause,
                cause);
    }

    private CompletableFuture<Void> callEngine(AgentTurn turn, BatchSpec spec, long queuedMs) {
        if (abandoned) {
            return CompletableFuture.failedFuture(new AbandonedTurnException(
                    "the worker is stopping; turn " + turn.getTurn() + " of job " + turn.getJobId()
                            + " was not started",
                    null));
        }
        PreparedBatch batch = prepare(spec);
        if (batch.problem() != null) {
            LOGGER.warn(
                    "batch cannot be used: jobId={} turn={} model={} problem={}",
                    turn.getJobId(),
                    turn.getTurn(),
                    spec.getModel(),
                    batch.problem());
            return publishResult(
                    turn,
                    JobStatus.FAILED,
                    null,
                    error(ErrorReason.INVALID_INPUT, batch.problem()),
                    null,
                    turn.getUsage(),
                    addQueued(turn.getTimings(), queuedMs),
                    turn.getToolCallsRequested(),
                    null);
        }
        if (spec.getCancelled()) {
            return publishResult(
                    turn,
                    JobStatus.CANCELLED,
                    null,
                    error(
                            ErrorReason.CANCELLED,
                            "batch '" + spec.getBatchId() + "' was cancelled; turn " + turn.getTurn()
                                    + " was not started"),
                    null,
                    turn.getUsage(),
                    addQueued(turn.getTimings(), queuedMs),
                    turn.getToolCallsRequested(),
                    null);
        }
        long age = clock.getAsLong() - turn.getSubmittedAtMs();
        if (spec.getDeadlineMs() > 0 && age > spec.getDeadlineMs()) {
            return publishResult(
                    turn,
                    JobStatus.FAILED,
                    null,
                    error(
                            ErrorReason.TIMEOUT,
                            "the agent deadline of " + spec.getDeadlineMs()
                                    + " ms (across all turns) passed before turn " + turn.getTurn() + " started"),
                    null,
                    turn.getUsage(),
                    addQueued(turn.getTimings(), queuedMs),
                    turn.getToolCallsRequested(),
                    null);
        }
        return warmer.ready(batch)
                .thenCompose(warmUp -> compactor
                        .fit(turn, batch)
                        .thenComposeAsync(
                                fitted -> callWith(fitted(turn, fitted), batch, fitted, queuedMs, warmUp), executor));
    }

    /** The model call of {@code turn}, whose conversation is fitted to its budgets; or its CONTEXT_EXHAUSTED end. */
    private CompletableFuture<Void> callWith(
            AgentTurn turn,
            PreparedBatch batch,
            ConversationCompactor.Fitted fitted,
            long queuedMs,
            WarmUpReport warmUp) {
        if (fitted.compaction() != null) {
            counters.compactions.incrementAndGet();
            LOGGER.debug(
                    "conversation compacted: jobId={} turn={} mode={} turnsCompacted={} tokensBefore={} tokensAfter={} detail={}",
                    turn.getJobId(),
                    turn.getTurn(),
                    fitted.compaction().getMode(),
                    fitted.compaction().getTurnsCompacted(),
                    fitted.compaction().getTokensBefore(),
                    fitted.compaction().getTokensAfter(),
                    fitted.compaction().getDetail());
        }
        if (fitted.exhausted() != null) {
            LOGGER.info(
                    "conversation over its budget: jobId={} turn={} message={}",
                    turn.getJobId(),
                    turn.getTurn(),
                    fitted.exhausted());
            return publishResult(
                    turn,
                    JobStatus.FAILED,
                    null,
                    error(ErrorReason.CONTEXT_EXHAUSTED, fitted.exhausted()),
                    null,
                    turn.getUsage(),
                    addQueued(turn.getTimings(), queuedMs),
                    turn.getToolCallsRequested(),
                    warmUp);
        }
        BatchSpec spec = batch.spec();
        SchedulingHints hints = SchedulingHints.forTurn(
                scheduling, turn.getTurn(), spec.getMaxTurns(), lengths.estimate(spec.getBatchId(), turn.getTurn()));
        AgentPrompt prompt = AgentPrompt.forAgent(batch, turn.getMessages(), hints);
        return engine.complete(ChatRequest.of(turn.getJobId(), turn.getTurn(), prompt))
                .thenComposeAsync(response -> onResponse(turn, batch, response, queuedMs, warmUp), executor);
    }

    /**
     * {@code turn} with its fitted conversation, the compaction recorded and the summary call's usage and
     * time accounted to the job.
     */
    private static AgentTurn fitted(AgentTurn turn, ConversationCompactor.Fitted fitted) {
        if (fitted.compaction() == null && fitted.summaryCall() == null) {
            return turn;
        }
        AgentTurn.Builder next = AgentTurn.newBuilder(turn).setMessages(fitted.messages());
        if (fitted.compaction() != null) {
            List<Compaction> compactions = new ArrayList<>(turn.getCompactions());
            compactions.add(fitted.compaction());
            next.setCompactions(compactions);
        }
        ChatResponse call = fitted.summaryCall();
        if (call != null) {
            next.setUsage(addUsage(turn.getUsage(), call.usage()));
            next.setTimings(Timings.newBuilder(turn.getTimings())
                    .setModelMs(turn.getTimings().getModelMs() + call.latencyMs())
                    .build());
        }
        return next.build();
    }

    private CompletableFuture<Void> onResponse(
            AgentTurn turn, PreparedBatch batch, ChatResponse response, long queuedMs, WarmUpReport warmUp) {
        String model = batch.spec().getModel();
        Usage usage = addUsage(turn.getUsage(), response.usage());
        Timings timings = addCall(turn, response, queuedMs);
        if (response.isFailure()
                && response.failure().isContextOverflow()
                && !refusedBefore(turn)
                && ConversationCompactor.policy(batch.spec()).getMode() != CompactionMode.NONE) {
            // The estimate was short: compact whatever the size says, and try once more if anything was compacted.
            AgentTurn refused = AgentTurn.newBuilder(turn)
                    .setUsage(usage)
                    .setTimings(timings)
                    .build();
            return compactor
                    .fitAfterRefusal(refused, batch, response.failure().message())
                    .thenComposeAsync(
                            fitted -> fitted.compaction() == null
                                    ? engineFailed(turn, batch, response, usage, timings, warmUp)
                                    : callWith(fitted(refused, fitted), batch, fitted, 0, warmUp),
                            executor);
        }
        if (response.isFailure()) {
            return engineFailed(turn, batch, response, usage, timings, warmUp);
        }
        lengths.record(
                batch.spec().getBatchId(), turn.getTurn(), response.usage().completionTokens());
        LOGGER.debug(
                "engine answered: jobId={} turn={} model={} finishReason={} toolCalls={} promptTokens={} cachedTokens={} latencyMs={}",
                turn.getJobId(),
                turn.getTurn(),
                model,
                response.finishReason(),
                response.toolCalls().size(),
                response.usage().promptTokens(),
                response.usage().cachedPromptTokens(),
                response.latencyMs());
        if (LOGGER.isTraceEnabled()) {
            LOGGER.trace(
                    "answer: jobId={} turn={} model={} content={}",
                    turn.getJobId(),
                    turn.getTurn(),
                    model,
                    response.content());
        }
        if (!response.toolCalls().isEmpty()) {
            return requestTools(turn, batch, response, usage, timings);
        }
        FinalAnswer.Verdict verdict = FinalAnswer.judge(
                response.content(),
                response.finishReason(),
                batch.outputSchema(),
                batch.spec().getMaxTokens());
        if (verdict.valid()) {
            return publishResult(
                    turn,
                    JobStatus.SUCCEEDED,
                    verdict.outputJson(),
                    null,
                    null,
                    usage,
                    timings,
                    turn.getToolCallsRequested(),
                    warmUp);
        }
        LOGGER.info(
                "invalid final answer: jobId={} turn={} model={} repairs={} problem={}",
                turn.getJobId(),
                turn.getTurn(),
                model,
                turn.getRepairs(),
                verdict.problem());
        if (turn.getRepairs() < batch.spec().getMaxRepairs()) {
            return askForRepair(turn, response.content(), verdict.problem(), usage, timings);
        }
        String problem = turn.getRepairs() == 0
                ? verdict.problem()
                : verdict.problem() + " (still invalid after " + turn.getRepairs() + " repair turn"
                        + (turn.getRepairs() == 1 ? "" : "s") + ")";
        return publishResult(
                turn,
                JobStatus.FAILED,
                null,
                error(ErrorReason.INVALID_OUTPUT, problem),
                response.content(),
                usage,
                timings,
                turn.getToolCallsRequested(),
                warmUp);
    }

    /** Ends the job FAILED for a failed model call: TIMEOUT, CONTEXT_EXHAUSTED (with the sizes) or ENGINE_ERROR. */
    private CompletableFuture<Void> engineFailed(
            AgentTurn turn,
            PreparedBatch batch,
            ChatResponse response,
            Usage usage,
            Timings timings,
            WarmUpReport warmUp) {
        String model = batch.spec().getModel();
        counters.engineFailures.incrementAndGet();
        LOGGER.warn(
                "engine call failed: jobId={} turn={} model={} status={} retriable={} message={}",
                turn.getJobId(),
                turn.getTurn(),
                model,
                response.failure().httpStatus().isPresent()
                        ? response.failure().httpStatus().getAsInt()
                        : "none",
                response.failure().retriable(),
                response.failure().message());
        JobError failure = response.failure().isUnavailable()
                ? error(ErrorReason.ENGINE_UNAVAILABLE, response.failure().message())
                : response.failure().isTimeout()
                        ? error(
                                ErrorReason.TIMEOUT,
                                "per-turn timeout: " + response.failure().message())
                        : response.failure().isContextOverflow()
                                ? error(ErrorReason.CONTEXT_EXHAUSTED, contextOverflow(turn, batch, response.failure()))
                                : error(
                                        ErrorReason.ENGINE_ERROR,
                                        response.failure().message());
        return publishResult(
                turn, JobStatus.FAILED, null, failure, null, usage, timings, turn.getToolCallsRequested(), warmUp);
    }

    /** Whether this turn's conversation was compacted after an engine's refusal already (it is retried once). */
    private static boolean refusedBefore(AgentTurn turn) {
        List<Compaction> compactions = turn.getCompactions();
        return !compactions.isEmpty()
                && compactions.get(compactions.size() - 1).getTurn() == turn.getTurn()
                && compactions.get(compactions.size() - 1).getDetail().startsWith(ConversationCompactor.REFUSAL_DETAIL);
    }

    /** The job's error when the engine refused its prompt as over the model's context window, with the sizes. */
    private static String contextOverflow(AgentTurn turn, PreparedBatch batch, EngineFailure failure) {
        ConversationCompactor.Size size = ConversationCompactor.size(batch, turn.getMessages());
        return "the engine refused the prompt of turn " + turn.getTurn()
                + " as longer than the model's context window ("
                + "~" + size.tokens() + " tokens estimated, " + size.bytes() + " bytes of conversation, contextTokens "
                + (batch.spec().getContextTokens() > 0 ? batch.spec().getContextTokens() : "unknown") + ", compaction "
                + ConversationCompactor.policy(batch.spec()).getMode() + "): " + failure.message();
    }

    /**
     * Sends the invalid answer back to the model with the exact validation errors, as the agent's
     * next turn (the conversation goes on; the job does not restart from its first turn).
     */
    private CompletableFuture<Void> askForRepair(
            AgentTurn turn, String answer, String problem, Usage usage, Timings timings) {
        List<ChatMessage> messages = new ArrayList<>(turn.getMessages());
        messages.add(ChatMessage.newBuilder()
                .setRole(Role.ASSISTANT)
                .setContent(answer == null ? "" : answer)
                .build());
        messages.add(ChatMessage.newBuilder()
                .setRole(Role.USER)
                .setContent("Your answer is not valid: " + problem
                        + "\nReply with only the corrected JSON object, valid against "
                        + "the JSON Schema in the system prompt.")
                .build());
        // The outcome of this turn, not yet the next turn: the assembler continues it (turn + 1) once.
        AgentTurn repair = onTheWire(AgentTurn.newBuilder(turn), turn, messages)
                .setPendingCalls(List.of())
                .setUsage(usage)
                .setTimings(timings)
                .setRepairs(turn.getRepairs() + 1)
                .setEmittedAtMs(clock.getAsLong())
                .build();
        return publish(turn, usage, timings, List.of(record(topics.agentWaits(), turn.getJobId(), repair)));
    }

    /**
     * Publishes one ToolRequest per valid call of a declared tool, an ERROR ToolResponse for each other
     * call, and the agent's waiting record listing every call of the turn.
     */
    private CompletableFuture<Void> requestTools(
            AgentTurn turn, PreparedBatch batch, ChatResponse response, Usage usage, Timings timings) {
        long now = clock.getAsLong();
        List<ToolCallRef> refs = new ArrayList<>();
        List<ProducerRecord<String, byte[]>> outgoing = new ArrayList<>();
        int position = 0;
        for (RequestedToolCall call : response.toolCalls()) {
            String callId =
                    call.id() == null || call.id().isBlank() ? "call_" + turn.getTurn() + "_" + position : call.id();
            position++;
            String name = call.name() == null ? "" : call.name();
            String rawArguments = call.arguments() == null ? "" : call.arguments();
            String canonical = null;
            String argumentsProblem;
            try {
                canonical = canonicalArguments(rawArguments);
                argumentsProblem = null;
            } catch (IllegalArgumentException e) {
                argumentsProblem = e.getMessage();
            }
            ToolSpec tool = batch.tool(name);
            // A tool declared with coalesce=false gets a per-request hash: no two requests share an execution.
            // A declared tool's hash covers its declaration, so that same-named tools of other batches never meet.
            String callHash = canonical == null
                    ? ""
                    : tool == null
                            ? CallHash.ofCanonical(name, canonical)
                            : !tool.getCoalesce()
                                    ? CallHash.uncoalesced(name, canonical, turn.getJobId(), turn.getTurn(), callId)
                                    : CallHash.ofCanonicalCall(tool, canonical);
            refs.add(new ToolCallRef(callId, name, rawArguments, callHash));

            if (tool == null) {
                String message = "tool '" + name + "' is not available; this batch allows: " + batch.allowedTools();
                LOGGER.info(
                        "undeclared tool requested: jobId={} turn={} tool={} callHash={}",
                        turn.getJobId(),
                        turn.getTurn(),
                        name,
                        callHash);
                outgoing.add(record(
                        topics.toolResponses(),
                        turn.getJobId(),
                        errorResponse(turn, callId, callHash, name, message, now)));
            } else if (argumentsProblem != null) {
                LOGGER.info(
                        "tool call with bad arguments: jobId={} turn={} tool={} problem={}",
                        turn.getJobId(),
                        turn.getTurn(),
                        name,
                        argumentsProblem);
                outgoing.add(record(
                        topics.toolResponses(),
                        turn.getJobId(),
                        errorResponse(turn, callId, callHash, name, argumentsProblem, now)));
            } else {
                counters.toolRequests.incrementAndGet();
                LOGGER.debug(
                        "tool requested: jobId={} turn={} tool={} callHash={}",
                        turn.getJobId(),
                        turn.getTurn(),
                        name,
                        callHash);
                outgoing.add(record(
                        topics.toolRequests(),
                        callHash,
                        ToolRequest.newBuilder()
                                .setCallHash(callHash)
                                .setJobId(turn.getJobId())
                                .setBatchId(turn.getBatchId())
                                .setTurn(turn.getTurn())
                                .setCallId(callId)
                                .setTool(tool)
                                .setArgumentsJson(canonical)
                                .setRequestedAtMs(now)
                                .setAttempt(turn.getAttempt())
                                .build()));
            }
        }

        List<ChatMessage> messages = new ArrayList<>(turn.getMessages());
        messages.add(ChatMessage.newBuilder()
                .setRole(Role.ASSISTANT)
                .setContent(response.content())
                .setToolCalls(refs)
                .setToolCallId(null)
                .build());
        AgentTurn waiting = onTheWire(AgentTurn.newBuilder(turn), turn, messages)
                .setPendingCalls(refs)
                .setUsage(usage)
                .setTimings(timings)
                .setEmittedAtMs(now)
                .setToolCallsRequested(turn.getToolCallsRequested() + refs.size())
                .build();
        // The assembler buffers responses and waits in either order, so all go out together. The
        // waiting record, which carries the conversation, goes first: if it is over the producer's size
        // limit, that shows at once and no tool request is sent for a job that is about to end.
        List<ProducerRecord<String, byte[]>> records = new ArrayList<>();
        records.add(record(topics.agentWaits(), turn.getJobId(), waiting));
        records.addAll(outgoing);
        return publish(turn, usage, timings, records);
    }

    /**
     * Sets the conversation of an outcome of {@code turn} on agent-waits: only the messages after those the
     * turn assembler holds ({@code storedMessages}), unless this turn's compaction changed some of those (then
     * the whole conversation, and 0); tool outputs held by reference go without their content.
     */
    private static AgentTurn.Builder onTheWire(AgentTurn.Builder outcome, AgentTurn turn, List<ChatMessage> messages) {
        int stored = turn.getStoredMessages();
        boolean compactedNow = turn.getCompactions().stream().anyMatch(c -> c.getTurn() == turn.getTurn());
        if (stored <= 0 || stored > messages.size() || compactedNow) {
            return outcome.setMessages(ToolOutputs.onTheWire(messages)).setStoredMessages(0);
        }
        return outcome.setMessages(ToolOutputs.onTheWire(new ArrayList<>(messages.subList(stored, messages.size()))))
                .setStoredMessages(stored);
    }

    /** RFC 8785 form of a call's arguments; blank counts as {@code {}}, as some engines send it for no-argument calls. */
    private static String canonicalArguments(String raw) {
        String text = raw.isBlank() ? "{}" : raw;
        JsonNode node;
        try {
            node = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("arguments are not valid JSON: " + e.getOriginalMessage());
        }
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException("arguments must be a JSON object, got "
                    + (node == null ? "nothing" : node.getNodeType().toString().toLowerCase(Locale.ROOT)));
        }
        return CallHash.canonicalJson(text);
    }

    private ToolResponse errorResponse(
            AgentTurn turn, String callId, String callHash, String tool, String message, long now) {
        return ToolResponse.newBuilder()
                .setJobId(turn.getJobId())
                .setTurn(turn.getTurn())
                .setCallId(callId)
                .setResult(ToolResult.newBuilder()
                        .setCallHash(callHash)
                        .setTool(tool)
                        .setStatus(ToolStatus.ERROR)
                        .setOutput(message)
                        .setError(message)
                        .setExecuted(false)
                        .setStartedAtMs(now)
                        .setFinishedAtMs(now)
                        .build())
                .setCoalesced(false)
                .setAttempt(turn.getAttempt())
                .build();
    }

    private CompletableFuture<Void> unknownBatch(AgentTurn turn, Throwable error, long queuedMs) {
        Throwable cause = unwrap(error);
        if (cause instanceof BatchSpecLookup.UnavailableException) {
            // The lookup stopped (the worker is closing, or its reader failed): the batch may well exist.
            LOGGER.warn(
                    "turn left unhandled, batch specs cannot be read: jobId={} turn={} batchId={} cause={}",
                    turn.getJobId(),
                    turn.getTurn(),
                    turn.getBatchId(),
                    cause.getMessage());
            return CompletableFuture.failedFuture(new AbandonedTurnException(
                    "turn " + turn.getTurn() + " of job " + turn.getJobId() + " was left unhandled: "
                            + cause.getMessage(),
                    cause));
        }
        String message = "unknown batch '" + turn.getBatchId() + "': " + cause.getMessage();
        LOGGER.warn(
                "unknown batch: jobId={} turn={} batchId={} cause={}",
                turn.getJobId(),
                turn.getTurn(),
                turn.getBatchId(),
                cause.getMessage());
        return publishResult(
                turn,
                JobStatus.FAILED,
                null,
                error(ErrorReason.UNKNOWN_BATCH, message),
                null,
                turn.getUsage(),
                addQueued(turn.getTimings(), queuedMs),
                turn.getToolCallsRequested(),
                null);
    }

    private CompletableFuture<Void> deadLetter(
            ConsumerRecord<String, Decoded<AgentTurn>> record, Decoded<AgentTurn> decoded) {
        RuntimeException cause =
                decoded == null ? new IllegalArgumentException("the record has no value") : decoded.error();
        String where = record.topic() + "-" + record.partition() + "@" + record.offset();
        String reason = "cannot decode an AgentTurn at " + where + ": " + cause.getMessage();
        LOGGER.warn(
                "undecodable record: topic={} partition={} offset={} jobId={} cause={}",
                record.topic(),
                record.partition(),
                record.offset(),
                record.key(),
                cause.toString());
        long now = clock.getAsLong();
        byte[] key = record.key() == null ? null : record.key().getBytes(StandardCharsets.UTF_8);
        byte[] value = decoded == null ? null : decoded.raw();
        DeadLetter letter = DeadLetter.newBuilder()
                .setStage(STAGE)
                .setTopic(record.topic())
                .setPartition(record.partition())
                .setOffset(record.offset())
                .setKey(key == null ? null : ByteBuffer.wrap(key))
                .setValue(value == null ? null : ByteBuffer.wrap(value))
                .setReason(reason)
                .setExceptionClass(cause.getClass().getName())
                .setRecordedAtMs(now)
                .build();
        counters.deadLetters.incrementAndGet();
        List<CompletableFuture<Void>> sends = new ArrayList<>();
        ProducerRecord<String, byte[]> dead = record(topics.deadLetters(), record.key(), letter);
        // Headers repeat the why, so tools that read only headers (as for KIP-1034 dead letters) see it.
        dead.headers()
                .add(HEADER_STAGE, STAGE.getBytes(StandardCharsets.UTF_8))
                .add(HEADER_REASON, reason.getBytes(StandardCharsets.UTF_8))
                .add(HEADER_EXCEPTION, cause.getClass().getName().getBytes(StandardCharsets.UTF_8));
        // The job's FAILED result is what matters; a dead letter that cannot be written (its copy of the
        // record may be over a limit) is logged rather than allowed to stop the worker.
        sends.add(sender.send(dead).exceptionally(error -> {
            LOGGER.error(
                    "dead letter not written: topic={} partition={} offset={} cause={}",
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    unwrap(error).getMessage());
            return null;
        }));
        String jobId = record.key() != null && !record.key().isBlank()
                ? record.key()
                : JobHeaders.jobId(record.headers()).orElse(null);
        if (jobId != null) {
            counters.failed.incrementAndGet();
            // The batch id matters: a workflow follows its map jobs' results by batch id.
            AgentResult result = AgentResult.newBuilder()
                    .setJobId(jobId)
                    .setBatchId(JobHeaders.batchId(record.headers()).orElse(""))
                    .setIndex(-1)
                    .setStatus(JobStatus.FAILED)
                    .setOutputJson(null)
                    .setError(error(ErrorReason.UNDECODABLE_RECORD, reason))
                    .setRawOutput(null)
                    .setTurns(0)
                    .setUsage(Usage.newBuilder().build())
                    .setTimings(Timings.newBuilder().build())
                    .setToolCallsRequested(0)
                    .setFinishedAtMs(now)
                    .build();
            sends.add(sender.send(record(topics.results(), jobId, result))
                    .exceptionallyCompose(error -> CompletableFuture.failedFuture(new UnpublishedOutcomeException(
                            "the FAILED result of job " + jobId + " (an undecodable record) could not be published: "
                                    + unwrap(error).getMessage(),
                            error))));
        }
        return CompletableFuture.allOf(sends.toArray(CompletableFuture[]::new));
    }

    /** @param warmUp the batch's warm-up, stamped on the result; null when none ran */
    private CompletableFuture<Void> publishResult(
            AgentTurn turn,
            JobStatus status,
            String outputJson,
            JobError error,
            String rawOutput,
            Usage usage,
            Timings timings,
            int toolCallsRequested,
            WarmUpReport warmUp) {
        long now = clock.getAsLong();
        (status == JobStatus.SUCCEEDED ? counters.succeeded : counters.failed).incrementAndGet();
        counters.onFinished.accept(turn.getJobId());
        Timings total = Timings.newBuilder(timings)
                .setTotalMs(Math.max(0, now - turn.getSubmittedAtMs()))
                .build();
        AgentResult result = AgentResult.newBuilder()
                .setJobId(turn.getJobId())
                .setBatchId(turn.getBatchId())
                .setIndex(turn.getIndex())
                .setStatus(status)
                .setOutputJson(outputJson)
                .setError(error)
                .setRawOutput(rawOutput)
                .setTurns(turn.getTurn())
                .setUsage(usage)
                .setTimings(total)
                .setToolCallsRequested(toolCallsRequested)
                .setFinishedAtMs(now)
                .setWarmUp(warmUp == null ? null : warmUp.toStatus())
                .setAttempt(turn.getAttempt())
                .setCompactions(turn.getCompactions())
                .build();
        LOGGER.debug(
                "result: jobId={} turn={} status={} reason={}",
                turn.getJobId(),
                turn.getTurn(),
                status,
                error == null ? null : error.getReason());
        return publish(turn, usage, total, List.of(finalOutcome(turn, result, now)));
    }

    /**
     * Publishes the records of a turn's outcome (see the class contract); when one of them cannot be
     * published, ends the job FAILED instead, with {@code usage} and {@code timings} as the outcome had them.
     */
    private CompletableFuture<Void> publish(
            AgentTurn turn, Usage usage, Timings timings, List<ProducerRecord<String, byte[]>> records) {
        if (abandoned) {
            return CompletableFuture.failedFuture(new AbandonedTurnException(
                    "the worker is stopping; the outcome of turn " + turn.getTurn() + " of job " + turn.getJobId()
                            + " was not published",
                    null));
        }
        return sender.sendAll(records).exceptionallyCompose(error -> {
            if (abandoned) {
                return CompletableFuture.failedFuture(new AbandonedTurnException(
                        "the worker stopped while publishing turn " + turn.getTurn() + " of job " + turn.getJobId(),
                        error));
            }
            Optional<SendFailedException> failed = sendFailure(error);
            FailureKind kind = failed.map(SendFailedException::kind).orElse(FailureKind.FATAL);
            ErrorReason reason =
                    kind == FailureKind.TOO_LARGE ? ErrorReason.RECORD_TOO_LARGE : ErrorReason.PUBLISH_FAILED;
            String message = failed.map(f -> describe(turn, f))
                    .orElse("the outcome of turn " + turn.getTurn() + " could not be published: " + unwrap(error));
            LOGGER.error(
                    "turn outcome not published; ending the job FAILED instead: jobId={} turn={} topic={} reason={} message={}",
                    turn.getJobId(),
                    turn.getTurn(),
                    failed.map(f -> f.record().topic()).orElse("?"),
                    reason,
                    message);
            return publishInstead(turn, usage, timings, reason, message, error);
        });
    }

    /**
     * Ends the job FAILED with a record that cannot fail the way a turn's outcome can: no conversation, no
     * output, only the reason and its message. Completes exceptionally with an {@link UnpublishedOutcomeException}
     * if even that record cannot be published.
     */
    private CompletableFuture<Void> publishInstead(
            AgentTurn turn, Usage usage, Timings timings, ErrorReason reason, String message, Throwable cause) {
        counters.failed.incrementAndGet();
        counters.outcomesReplaced.incrementAndGet();
        long now = clock.getAsLong();
        ProducerRecord<String, byte[]> failure;
        try {
            AgentResult result = AgentResult.newBuilder()
                    .setJobId(turn.getJobId())
                    .setBatchId(turn.getBatchId())
                    .setIndex(turn.getIndex())
                    .setStatus(JobStatus.FAILED)
                    .setError(error(reason, message))
                    .setTurns(turn.getTurn())
                    .setUsage(usage)
                    .setTimings(Timings.newBuilder(timings)
                            .setTotalMs(Math.max(0, now - turn.getSubmittedAtMs()))
                            .build())
                    .setToolCallsRequested(turn.getToolCallsRequested())
                    .setFinishedAtMs(now)
                    .setAttempt(turn.getAttempt())
                    .setCompactions(turn.getCompactions())
                    .build();
            failure = finalOutcome(turn, result, now);
        } catch (RuntimeException e) {
            e.addSuppressed(cause);
            return CompletableFuture.failedFuture(unpublished(turn, message, e));
        }
        return sender.send(failure).exceptionallyCompose(error -> {
            error.addSuppressed(cause);
            return CompletableFuture.failedFuture(unpublished(turn, message, error));
        });
    }

    private static UnpublishedOutcomeException unpublished(AgentTurn turn, String message, Throwable error) {
        // The consumer loop logs the failure with its stack when it stops on it.
        LOGGER.error(
                "neither the outcome nor a FAILED result could be published; the turn stays uncommitted: "
                        + "jobId={} turn={} cause={}",
                turn.getJobId(),
                turn.getTurn(),
                unwrap(error).getMessage());
        return new UnpublishedOutcomeException(
                "job " + turn.getJobId() + ", turn " + turn.getTurn()
                        + ": the FAILED result standing for an unpublished outcome (" + message
                        + ") could not be published either: "
                        + unwrap(error).getMessage(),
                error);
    }

    /** What could not be published, how big it was and why, for the job's error message. */
    private static String describe(AgentTurn turn, SendFailedException failed) {
        ProducerRecord<?, ?> record = failed.record();
        long bytes = sizeOf(record.key()) + sizeOf(record.value());
        String what = "the " + record.topic() + " record of turn " + turn.getTurn() + " ("
                + String.format(Locale.ROOT, "%,d", bytes) + " bytes of key and value, before compression)";
        Throwable cause = failed.getCause() == null ? failed : failed.getCause();
        return switch (failed.kind()) {
            case TOO_LARGE ->
                what + " is over a size limit of the producer (max.request.size) or the topic "
                        + "(max.message.bytes): " + cause.getMessage();
            case RETRIABLE -> what + " could not be published in " + failed.attempts() + " attempts: " + cause;
            case FATAL -> what + " could not be published: " + cause;
        };
    }

    private static long sizeOf(Object part) {
        if (part instanceof byte[] bytes) {
            return bytes.length;
        }
        return part == null ? 0 : part.toString().getBytes(StandardCharsets.UTF_8).length;
    }

    private static Optional<SendFailedException> sendFailure(Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof SendFailedException failed) {
                return Optional.of(failed);
            }
        }
        return Optional.empty();
    }

    private static Throwable unwrap(Throwable error) {
        Throwable cause = error;
        while (cause instanceof CompletionException && cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause;
    }

    /** The warm-up report of a batch, once its warm-up is done (empty when warm-up is off). */
    java.util.Optional<WarmUpReport> warmUp(String batchId) {
        return warmer.report(batchId);
    }

    private PreparedBatch prepare(BatchSpec spec) {
        String batchId = spec.getBatchId();
        PreparedBatch current;
        synchronized (prepared) {
            current = prepared.get(batchId);
        }
        if (current != null && (current.spec() == spec || current.spec().equals(spec))) {
            return current;
        }
        // Rendered outside the lock; two threads preparing the same batch at once do the same harmless work.
        PreparedBatch fresh = PreparedBatch.of(spec);
        synchronized (prepared) {
            prepared.put(batchId, fresh);
        }
        return fresh;
    }

    private static JobError error(ErrorReason reason, String message) {
        return JobError.newBuilder().setReason(reason).setMessage(message).build();
    }

    private static Usage addUsage(Usage usage, TokenUsage call) {
        return Usage.newBuilder(usage)
                .setPromptTokens(usage.getPromptTokens() + call.promptTokens())
                .setCachedPromptTokens(usage.getCachedPromptTokens() + call.cachedPromptTokens())
                .setCompletionTokens(usage.getCompletionTokens() + call.completionTokens())
                .setCacheWriteTokens(usage.getCacheWriteTokens() + call.cacheWriteTokens())
                .setModelCalls(usage.getModelCalls() + 1)
                .build();
    }

    private static Timings addQueued(Timings timings, long queuedMs) {
        return Timings.newBuilder(timings)
                .setQueuedMs(timings.getQueuedMs() + queuedMs)
                .build();
    }

    private static Timings addCall(AgentTurn turn, ChatResponse response, long queuedMs) {
        Timings timings = turn.getTimings();
        Timings.Builder next = Timings.newBuilder(timings)
                .setQueuedMs(timings.getQueuedMs() + queuedMs)
                .setModelMs(timings.getModelMs() + response.latencyMs());
        // Time to first token describes the agent's first model call only.
        if (turn.getTurn() == 1
                && timings.getFirstTokenMs() == null
                && response.timeToFirstTokenMs().isPresent()) {
            next.setFirstTokenMs(response.timeToFirstTokenMs().getAsLong());
        }
        return next.build();
    }

    /**
     * The record that offers {@code result} as the outcome of {@code turn}: on agent-waits, for the
     * assembler to write to results if it is the first outcome of this (attempt, turn). It carries no
     * conversation, so it stays small whatever the turn's size.
     */
    private ProducerRecord<String, byte[]> finalOutcome(AgentTurn turn, AgentResult result, long now) {
        AgentTurn outcome = AgentTurn.newBuilder(turn)
                .setMessages(List.of())
                .setPendingCalls(List.of())
                .setUsage(result.getUsage())
                .setTimings(result.getTimings())
                .setEmittedAtMs(now)
                .setFinalResult(result)
                .build();
        return record(topics.agentWaits(), turn.getJobId(), outcome);
    }

    /** The record of {@code value} on {@code topic}, with {@link JobHeaders} naming its job and batch. */
    private static <V> ProducerRecord<String, byte[]> record(Topic<String, V> topic, String key, V value) {
        Headers headers = JobHeaders.stamp(new RecordHeaders(), value);
        return new ProducerRecord<>(
                topic.name(),
                null,
                key,
                topic.valueSerde().serializer().serialize(topic.name(), headers, value),
                headers);
    }
}
