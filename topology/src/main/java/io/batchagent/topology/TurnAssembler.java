package io.batchagent.topology;

import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.Role;
import io.batchagent.events.Timings;
import io.batchagent.events.ToolCallRef;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.events.state.TurnAssembly;
import io.batchagent.schemas.ToolTimeouts;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.metrics.Sensor;
import org.apache.kafka.common.metrics.stats.CumulativeCount;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The turn assembler, keyed by job id: it decides, once, the outcome of every (job, attempt, turn)
 * and, when every tool call of an agent's turn has its result, emits the agent's next
 * {@code AgentTurn} on {@code agent-continuations} (the conversation plus one tool message per call,
 * in the order the model asked for them).
 *
 * <p>The inference workers send every turn outcome here, on {@code agent-waits}: the turn waiting on
 * its tool calls, the job's final result ({@code AgentTurn.finalResult}), or a conversation to
 * continue at once (a repair turn: neither). The first outcome of an (attempt, turn) is kept; any
 * later one is a duplicate of a replayed or rebalanced worker and is dropped, so a job gets at most
 * one continuation per turn and exactly one final result per attempt, whichever answer came first.
 * Final results reach {@code results} only through here.
 *
 * <p>The waiting turn and the responses (from {@code tool-responses}) may arrive in either order;
 * both are buffered in the {@value #ASSEMBLY_STORE} store. A response answers a call of the kept
 * waiting turn only with the same turn, call id and (where both have one) call hash; others are
 * ignored. Records for a turn already decided, or for an older turn, are late duplicates and are
 * dropped. A record of a higher attempt ({@code --retry-failed}) resets the job's entry; records of
 * a lower attempt are dropped. Drops are counted in the {@value #METRIC_GROUP} metrics
 * {@value #STALE_ATTEMPT_METRIC} and {@value #DUPLICATE_OUTCOME_METRIC}.
 *
 * <p>A turn that would exceed the batch's {@code maxTurns} ends the job FAILED with
 * MAX_TURNS_EXCEEDED. A waiting turn still missing results past the latest deadline of its missing
 * calls ({@link ToolTimeouts}: the coalescer's queue allowance plus the tool's timeout, plus the
 * batch window of a batchable tool, from the BatchSpec) plus the stall grace ends the job FAILED with
 * STALLED, on wall-clock time, whatever was lost upstream. A job whose next turn, or whose buffered
 * turn and results, would exceed the record budget ends FAILED with RECORD_TOO_LARGE
 * ({@link RecordBudget}). The two input topics must be co-partitioned.
 */
public final class TurnAssembler {

    public static final String ASSEMBLY_STORE = "turn-assembly";
    /**
     * The conversations of the jobs in flight, one entry per message (key: job, attempt, index), so that
     * each message is written to the changelog once, not once per turn.
     */
    public static final String CONVERSATION_STORE = "turn-conversations";

    public static final String SPECS_STORE = "turn-assembler-batch-specs";
    /** The metric group of the assembler's drop counters (one metric per task, tag {@code task-id}). */
    public static final String METRIC_GROUP = "batchagent-turn-assembler";
    /** Records dropped because their job has moved on to a higher attempt. */
    public static final String STALE_ATTEMPT_METRIC = "stale-attempt-records-total";
    /** Turn outcomes dropped because the outcome of their (attempt, turn) was decided already. */
    public static final String DUPLICATE_OUTCOME_METRIC = "duplicate-outcomes-total";

    /** How long an assembled job's entry (its last turn number, to drop late duplicates) is kept. */
    public static final Duration DEFAULT_RETENTION = Duration.ofHours(1);
    /** How long past its missing calls' deadlines a waiting turn may wait before its job ends STALLED. */
    public static final Duration DEFAULT_STALL_GRACE = Duration.ofSeconds(60);

    private TurnAssembler() {}

    public static Topology build(Topics topics) {
        return build(topics, DEFAULT_RETENTION, ToolTimeouts.DEFAULT_QUEUE_ALLOWANCE, DEFAULT_STALL_GRACE);
    }

    public static Topology build(Topics topics, Duration retention) {
        return build(topics, retention, ToolTimeouts.DEFAULT_QUEUE_ALLOWANCE, DEFAULT_STALL_GRACE);
    }

    /**
     * @param retention how long after its last change an entry with nothing pending is kept; late
     *     duplicates older than this are no longer recognised (they would wait in the store until
     *     the next cleanup and never complete a turn)
     * @param queueAllowance the coalescer's queue allowance ({@link ToolTimeouts}), part of every call's deadline
     * @param stallGrace how long past the latest deadline of its missing calls a waiting turn may
     *     wait before its job ends STALLED; it should exceed the coalescer's expiry grace, so that a
     *     tool timeout reaches the agent as a TIMEOUT tool message first
     */
    public static Topology build(Topics topics, Duration retention, Duration queueAllowance, Duration stallGrace) {
        if (retention.isNegative() || retention.isZero() || stallGrace.isNegative() || stallGrace.isZero()) {
            throw new IllegalArgumentException(
                    "retention and stall grace must be positive, got " + retention + " and " + stallGrace);
        }
        StreamsBuilder builder = new StreamsBuilder();
        builder.globalTable(
                topics.batchSpecs().name(),
                Consumed.with(Serdes.String(), topics.batchSpecs().valueSerde())
                        .withName("turn-assembler-specs-source"),
                Materialized.<String, BatchSpec, KeyValueStore<Bytes, byte[]>>as(SPECS_STORE)
                        .withKeySerde(Serdes.String())
                        .withValueSerde(topics.batchSpecs().valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(ASSEMBLY_STORE), Serdes.String(), topics.serde(TurnAssembly.class)));
        builder.addStateStore(Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(CONVERSATION_STORE), Serdes.String(), topics.serde(ChatMessage.class)));

        KStream<String, SpecificRecord> fromWaits = builder.stream(
                        topics.agentWaits().name(),
                        StrictValues.consumed(topics.agentWaits()).withName("agent-waits-source"))
                .process(
                        () -> new RecordTurnOutcome(topics, retention, queueAllowance, stallGrace),
                        Named.as("record-turn-outcome"),
                        ASSEMBLY_STORE,
                        CONVERSATION_STORE);
        KStream<String, SpecificRecord> fromResponses = builder.stream(
                        topics.toolResponses().name(),
                        StrictValues.consumed(topics.toolResponses()).withName("tool-responses-source"))
                .process(
                        () -> new CollectToolResponse(topics),
                        Named.as("collect-tool-response"),
                        ASSEMBLY_STORE,
                        CONVERSATION_STORE);

        KStream<String, SpecificRecord> outcomes = fromWaits.merge(fromResponses, Named.as("assembler-outcomes"));
        Routing.branchTo(
                Routing.branchTo(
                        Routing.split(outcomes, "assembler-route"),
                        "assembler",
                        AgentTurn.class,
                        topics.agentContinuations()),
                "assembler",
                AgentResult.class,
                topics.results());
        return builder.build();
    }

    /** Shared by both processors: the store, the specs, attempts, and the completion check. */
    private abstract static class Assembling<V> implements Processor<String, V, String, SpecificRecord> {

        static final Logger LOGGER = LoggerFactory.getLogger(TurnAssembler.class);

        private final Topics topics;
        ProcessorContext<String, SpecificRecord> context;
        KeyValueStore<String, TurnAssembly> assemblies;
        KeyValueStore<String, ChatMessage> conversations;
        KeyValueStore<String, ?> specs;
        private RecordBudget budget;
        private Sensor staleAttempts;
        private Sensor duplicateOutcomes;

        Assembling(Topics topics) {
            this.topics = topics;
        }

        @Override
        public void init(ProcessorContext<String, SpecificRecord> context) {
            this.context = context;
            this.assemblies = context.getStateStore(ASSEMBLY_STORE);
            this.conversations = context.getStateStore(CONVERSATION_STORE);
            this.specs = Routing.store(context, SPECS_STORE);
            this.budget = new RecordBudget(topics, context.applicationId() + "-" + ASSEMBLY_STORE + "-changelog");
            this.staleAttempts = counter(STALE_ATTEMPT_METRIC, "records of an older attempt of their job, dropped");
            this.duplicateOutcomes = counter(
                    DUPLICATE_OUTCOME_METRIC,
                    "turn outcomes dropped because their (attempt, turn) was decided already");
        }

        /** Both processors of a task share the sensors: the registry returns the existing one by name. */
        private Sensor counter(String metric, String description) {
            String task = context.taskId().toString();
            Sensor sensor =
                    context.metrics().addSensor(METRIC_GROUP + "." + task + "." + metric, Sensor.RecordingLevel.INFO);
            sensor.add(
                    new MetricName(metric, METRIC_GROUP, description, Map.of("task-id", task)), new CumulativeCount());
            return sensor;
        }

        @Override
        public void close() {
            context.metrics().removeSensor(staleAttempts);
            context.metrics().removeSensor(duplicateOutcomes);
        }

        /**
         * The job's entry for a record of {@code attempt}: a fresh one when the job has none or the
         * attempt is newer (stages reset per attempt); null, counted, when the attempt is older.
         */
        TurnAssembly entryFor(String jobId, int attempt, int turn, String what) {
            TurnAssembly assembly = assemblies.get(jobId);
            if (assembly != null && attempt < assembly.getAttempt()) {
                staleAttempts.record();
                LOGGER.debug(
                        "dropped a {} of an older attempt: jobId={} turn={} attempt={} currentAttempt={}",
                        what,
                        jobId,
                        turn,
                        attempt,
                        assembly.getAttempt());
                return null;
            }
            if (assembly != null && attempt == assembly.getAttempt()) {
                return assembly;
            }
            if (assembly != null) {
                LOGGER.debug(
                        "a new attempt resets the job's turn assembly: jobId={} attempt={} previousAttempt={}",
                        jobId,
                        attempt,
                        assembly.getAttempt());
                forget(jobId, assembly.getAttempt());
            }
            return TurnAssembly.newBuilder()
                    .setJobId(jobId)
                    .setAttempt(attempt)
                    .setResponses(new ArrayList<>())
                    .build();
        }

        /** Whether the outcome of {@code turn} of the entry's attempt is decided already (or a later turn's is). */
        static boolean decided(TurnAssembly assembly, int turn) {
            AgentTurn current = assembly.getWaiting();
            return assembly.getFinished()
                    || turn <= assembly.getCompletedTurn()
                    || (current != null && turn < current.getTurn());
        }

        void dropDuplicate(AgentTurn outcome) {
            duplicateOutcomes.record();
            LOGGER.debug(
                    "dropped a duplicate turn outcome: jobId={} turn={} attempt={}",
                    outcome.getJobId(),
                    outcome.getTurn(),
                    outcome.getAttempt());
        }

        /** Emits the next turn if every call of the waiting turn is answered; stores the state otherwise. */
        void completeIfAnswered(TurnAssembly assembly) {
            long now = context.currentSystemTimeMs();
            assembly.setUpdatedAtMs(now);
            AgentTurn waiting = assembly.getWaiting();
            if (waiting == null) {
                assemblies.put(assembly.getJobId(), assembly);
                return;
            }
            if (!missingCalls(waiting, assembly.getResponses()).isEmpty()) {
                AgentResult overflow = budget.overflow(assembly, now);
                if (overflow == null) {
                    assemblies.put(assembly.getJobId(), assembly);
                } else {
                    decide(assembly, waiting.getTurn(), overflow, now);
                }
                return;
            }
            decide(assembly, waiting.getTurn(), nextTurnOrFailure(waiting, assembly.getResponses(), now), now);
        }

        /**
         * Records that the outcome of {@code turn} is decided and forwards it: the next turn, or a
         * final result, after which every later record of this attempt is a duplicate.
         */
        void decide(TurnAssembly assembly, int turn, SpecificRecord decided, long now) {
            SpecificRecord outcome = budget.fit(decided, now);
            AgentTurn waiting = assembly.getWaiting();
            if (outcome instanceof AgentTurn next) {
                hold(next, waiting == null ? 0 : waiting.getStoredMessages());
            } else {
                forget(assembly.getJobId(), assembly.getAttempt());
            }
            assembly.setCompletedTurn(turn);
            assembly.setFinished(outcome instanceof AgentResult);
            assembly.setWaiting(null);
            assembly.setResponses(new ArrayList<>());
            assembly.setUpdatedAtMs(now);
            assemblies.put(assembly.getJobId(), assembly);
            context.forward(new Record<>(assembly.getJobId(), outcome, now));
        }

        /**
         * Keeps the messages of {@code next} from index {@code from} on (those the store does not hold yet; all
         * of them when 0, replacing what it held), so that the next outcome of this job need carry only what
         * its model call adds.
         */
        private void hold(AgentTurn next, int from) {
            List<ChatMessage> messages = next.getMessages();
            String prefix = conversationPrefix(next.getJobId(), next.getAttempt());
            if (from == 0) {
                forget(next.getJobId(), next.getAttempt());
            }
            for (int i = from; i < messages.size(); i++) {
                conversations.put(prefix + String.format(Locale.ROOT, "%06d", i), messages.get(i));
            }
        }

        /** Deletes what the store holds of the job's conversation in {@code attempt}. */
        private void forget(String jobId, int attempt) {
            List<String> keys = new ArrayList<>();
            try (KeyValueIterator<String, ChatMessage> it =
                    conversations.prefixScan(conversationPrefix(jobId, attempt), new StringSerializer())) {
                it.forEachRemaining(entry -> keys.add(entry.key));
            }
            keys.forEach(conversations::delete);
        }

        /** The messages of the job's conversation that the store holds, in order. */
        private List<ChatMessage> held(String jobId, int attempt) {
            List<ChatMessage> messages = new ArrayList<>();
            try (KeyValueIterator<String, ChatMessage> it =
                    conversations.prefixScan(conversationPrefix(jobId, attempt), new StringSerializer())) {
                it.forEachRemaining(entry -> messages.add(entry.value));
            }
            return messages;
        }

        /**
         * The whole conversation that {@code waiting} continues: the messages the store holds, then those the
         * outcome added; or all of the outcome's messages when it carries the whole conversation. Null when the
         * store does not hold what the outcome says it does.
         */
        private List<ChatMessage> conversationOf(AgentTurn waiting) {
            int stored = waiting.getStoredMessages();
            if (stored == 0) {
                return new ArrayList<>(waiting.getMessages());
            }
            List<ChatMessage> messages = held(waiting.getJobId(), waiting.getAttempt());
            if (messages.size() != stored) {
                LOGGER.error(
                        "conversation state does not match the turn: jobId={} turn={} attempt={} held={} stored={}",
                        waiting.getJobId(),
                        waiting.getTurn(),
                        waiting.getAttempt(),
                        messages.size(),
                        stored);
                return null;
            }
            messages.addAll(waiting.getMessages());
            return messages;
        }

        private SpecificRecord nextTurnOrFailure(AgentTurn waiting, List<ToolResponse> responses, long now) {
            boolean toolTurn = !waiting.getPendingCalls().isEmpty();
            List<ChatMessage> messages = conversationOf(waiting);
            if (messages == null) {
                AgentResult lost = Outcomes.failed(
                        waiting,
                        ErrorReason.OTHER,
                        "the turn assembler holds "
                                + held(waiting.getJobId(), waiting.getAttempt()).size()
                                + " messages of this conversation, but turn "
                                + waiting.getTurn() + " continues one of " + waiting.getStoredMessages()
                                + "; it cannot go on",
                        now);
                lost.setTurns(waiting.getTurn());
                return lost;
            }
            for (ToolCallRef call : waiting.getPendingCalls()) {
                messages.add(toolMessage(
                        call, answerTo(call, waiting.getTurn(), responses).getResult()));
            }
            // A turn with no calls (a repair) continues at once: it waited for no tool.
            long toolWait = toolTurn ? Math.max(0, now - waiting.getEmittedAtMs()) : 0;
            Timings timings = Timings.newBuilder(waiting.getTimings())
                    .setToolWaitMs(waiting.getTimings().getToolWaitMs() + toolWait)
                    .build();
            AgentTurn next = AgentTurn.newBuilder(waiting)
                    .setTurn(waiting.getTurn() + 1)
                    .setMessages(messages)
                    .setStoredMessages(messages.size())
                    .setPendingCalls(List.of())
                    .setTimings(timings)
                    .setEmittedAtMs(now)
                    .build();
            BatchSpec spec = Routing.lookup(specs, waiting.getBatchId());
            if (spec == null) {
                return Outcomes.failed(
                        next,
                        ErrorReason.UNKNOWN_BATCH,
                        "batch '" + waiting.getBatchId() + "' is not known to the turn assembler",
                        now);
            }
            if (spec.getCancelled()) {
                AgentResult cancelled = Outcomes.cancelled(Outcomes.failed(
                        next,
                        ErrorReason.CANCELLED,
                        "batch '" + waiting.getBatchId() + "' was cancelled; no further turn was started",
                        now));
                cancelled.setTurns(waiting.getTurn());
                return cancelled;
            }
            if (spec.getDeadlineMs() > 0 && now - waiting.getSubmittedAtMs() > spec.getDeadlineMs()) {
                AgentResult late = Outcomes.failed(
                        next,
                        ErrorReason.TIMEOUT,
                        "the agent deadline of " + spec.getDeadlineMs() + " ms (across all turns) passed after "
                                + waiting.getTurn() + " turns",
                        now);
                late.setTurns(waiting.getTurn());
                return late;
            }
            // Repair turns are bounded by maxRepairs, not maxTurns (as before they passed through here).
            if (toolTurn && next.getTurn() > spec.getMaxTurns()) {
                LOGGER.debug("max turns reached: jobId={} turn={}", waiting.getJobId(), waiting.getTurn());
                AgentResult failed = Outcomes.failed(
                        next,
                        ErrorReason.MAX_TURNS_EXCEEDED,
                        "the agent used all " + spec.getMaxTurns() + " turns (max_turns) and still asked for tools "
                                + "instead of giving a final answer",
                        now);
                failed.setTurns(waiting.getTurn());
                return failed;
            }
            return next;
        }

        private static ChatMessage toolMessage(ToolCallRef call, ToolResult result) {
            if (result.getOutputRef() != null && result.getStatus() == ToolStatus.OK) {
                // A large output stays where it is on tool-results; the inference worker reads it back.
                return ChatMessage.newBuilder()
                        .setRole(Role.TOOL)
                        .setToolCallId(call.getId())
                        .setContent(null)
                        .setContentRef(result.getOutputRef())
                        .build();
            }
            String content = result.getStatus() == ToolStatus.OK
                    ? result.getOutput()
                    : "ERROR (" + result.getStatus() + "): "
                            + (result.getError() != null ? result.getError() : result.getOutput());
            return ChatMessage.newBuilder()
                    .setRole(Role.TOOL)
                    .setToolCallId(call.getId())
                    .setContent(content)
                    .build();
        }
    }

    /**
     * The key prefix of a job's conversation entries in {@link #CONVERSATION_STORE}; the job id is length-prefixed,
     * so no job's prefix is another's.
     */
    static String conversationPrefix(String jobId, int attempt) {
        return jobId.length() + ":" + jobId + "|" + attempt + "|";
    }

    /** The calls of {@code waiting} that no buffered response answers yet, in call order. */
    static List<ToolCallRef> missingCalls(AgentTurn waiting, List<ToolResponse> responses) {
        return waiting.getPendingCalls().stream()
                .filter(call -> answerTo(call, waiting.getTurn(), responses) == null)
                .toList();
    }

    private static ToolResponse answerTo(ToolCallRef call, int turn, List<ToolResponse> responses) {
        for (ToolResponse response : responses) {
            if (answers(response, turn, call)) {
                return response;
            }
        }
        return null;
    }

    /**
     * Whether {@code response} answers {@code call}: same turn and call id, and the same call hash
     * where both carry one, because a duplicate copy of the turn (from a replayed worker) may have
     * used the same call id for a different call.
     */
    private static boolean answers(ToolResponse response, int turn, ToolCallRef call) {
        if (response.getTurn() != turn || !response.getCallId().equals(call.getId())) {
            return false;
        }
        String hash = response.getResult().getCallHash();
        return hash.isEmpty() || call.getCallHash().isEmpty() || hash.equals(call.getCallHash());
    }

    /** On {@code agent-waits}: keeps the first outcome of each (attempt, turn) and ends stalled jobs. */
    static final class RecordTurnOutcome extends Assembling<AgentTurn> {
        private final Duration retention;
        private final Duration queueAllowance;
        private final Duration stallGrace;

        RecordTurnOutcome(Topics topics, Duration retention, Duration queueAllowance, Duration stallGrace) {
            super(topics);
            this.retention = retention;
            this.queueAllowance = queueAllowance;
            this.stallGrace = stallGrace;
        }

        @Override
        public void init(ProcessorContext<String, SpecificRecord> context) {
            super.init(context);
            Duration every = Duration.ofMinutes(1);
            every = retention.compareTo(every) < 0 ? retention : every;
            every = stallGrace.compareTo(every) < 0 ? stallGrace : every;
            context.schedule(every, PunctuationType.WALL_CLOCK_TIME, this::sweep);
        }

        @Override
        public void process(Record<String, AgentTurn> record) {
            AgentTurn outcome = record.value();
            if (outcome == null) {
                return;
            }
            TurnAssembly assembly =
                    entryFor(outcome.getJobId(), outcome.getAttempt(), outcome.getTurn(), "turn outcome");
            if (assembly == null) {
                return;
            }
            AgentTurn current = assembly.getWaiting();
            if (decided(assembly, outcome.getTurn()) || (current != null && current.getTurn() == outcome.getTurn())) {
                dropDuplicate(outcome);
                return;
            }
            long now = context.currentSystemTimeMs();
            if (outcome.getFinalResult() != null) {
                LOGGER.debug(
                        "final result kept: jobId={} turn={} attempt={} status={}",
                        outcome.getJobId(),
                        outcome.getTurn(),
                        outcome.getAttempt(),
                        outcome.getFinalResult().getStatus());
                decide(assembly, outcome.getTurn(), outcome.getFinalResult(), now);
                return;
            }
            assembly.setWaiting(outcome);
            assembly.setWaitingSinceMs(now);
            assembly.getResponses().removeIf(r -> r.getTurn() < outcome.getTurn());
            completeIfAnswered(assembly);
        }

        /**
         * Ends the jobs whose waiting turn has stalled, and drops entries of jobs past their last
         * decided turn with nothing pending (they only guard against late duplicates).
         */
        private void sweep(long now) {
            List<String> idle = new ArrayList<>();
            List<TurnAssembly> stalled = new ArrayList<>();
            try (KeyValueIterator<String, TurnAssembly> it = assemblies.all()) {
                while (it.hasNext()) {
                    var entry = it.next();
                    TurnAssembly assembly = entry.value;
                    if (assembly.getWaiting() != null) {
                        if (now >= assembly.getWaitingSinceMs() + longestWaitMs(assembly) + stallGrace.toMillis()) {
                            stalled.add(assembly);
                        }
                    } else if (assembly.getResponses().isEmpty()
                            && now - assembly.getUpdatedAtMs() >= retention.toMillis()) {
                        idle.add(entry.key);
                    }
                }
            }
            idle.forEach(assemblies::delete);
            stalled.forEach(assembly -> failStalled(assembly, now));
        }

        /**
         * How long, from its arrival here, the waiting turn's last missing call may take by the
         * coalescer's rule: the latest of their deadlines (queue allowance + timeout, plus the batch
         * window of a batchable tool). A tool the spec does not declare counts with ToolSpec's default timeout.
         */
        private long longestWaitMs(TurnAssembly assembly) {
            AgentTurn waiting = assembly.getWaiting();
            BatchSpec spec = Routing.lookup(specs, waiting.getBatchId());
            Map<String, ToolSpec> tools = new HashMap<>();
            if (spec != null) {
                spec.getTools().forEach(tool -> tools.put(tool.getName(), tool));
            }
            long longest = 0;
            for (ToolCallRef call : missingCalls(waiting, assembly.getResponses())) {
                ToolSpec tool = tools.getOrDefault(
                        call.getName(),
                        ToolSpec.newBuilder().setName(call.getName()).build());
                long window = tool.getBatchable() ? Math.max(0, tool.getBatchWindowMs()) : 0;
                longest = Math.max(longest, ToolTimeouts.deadlineMs(window, tool, queueAllowance));
            }
            return longest;
        }

        private void failStalled(TurnAssembly assembly, long now) {
            AgentTurn waiting = assembly.getWaiting();
            List<ToolCallRef> missing = missingCalls(waiting, assembly.getResponses());
            String calls = missing.stream()
                    .map(call -> call.getName() + " (call " + call.getId() + ", callHash " + call.getCallHash() + ")")
                    .collect(Collectors.joining(", "));
            long waited = now - assembly.getWaitingSinceMs();
            LOGGER.warn(
                    "job stalled waiting for tool results: jobId={} turn={} attempt={} waitedMs={} missing={}",
                    waiting.getJobId(),
                    waiting.getTurn(),
                    waiting.getAttempt(),
                    waited,
                    calls);
            AgentResult stalled = Outcomes.failed(
                    waiting,
                    ErrorReason.STALLED,
                    "turn " + waiting.getTurn() + " waited "
                            + waited + " ms, past its calls' deadline of " + longestWaitMs(assembly)
                            + " ms (queue allowance "
                            + queueAllowance.toMillis() + " ms + tool timeout) plus a grace of "
                            + stallGrace.toMillis() + " ms, with no result for " + missing.size() + " of "
                            + waiting.getPendingCalls().size() + " tool calls: " + calls
                            + "; a record was lost upstream (see dead-letters)",
                    now);
            decide(assembly, waiting.getTurn(), stalled, now);
        }
    }

    /** On {@code tool-responses}: buffers each response of the job's current attempt and turn. */
    static final class CollectToolResponse extends Assembling<ToolResponse> {
        CollectToolResponse(Topics topics) {
            super(topics);
        }

        @Override
        public void process(Record<String, ToolResponse> record) {
            ToolResponse response = record.value();
            if (response == null) {
                return;
            }
            TurnAssembly assembly =
                    entryFor(response.getJobId(), response.getAttempt(), response.getTurn(), "tool response");
            if (assembly == null) {
                return;
            }
            if (decided(assembly, response.getTurn())) {
                return; // late: that turn's outcome is decided already
            }
            assembly.getResponses()
                    .removeIf(r -> r.getTurn() == response.getTurn()
                            && r.getCallId().equals(response.getCallId())
                            && r.getResult()
                                    .getCallHash()
                                    .equals(response.getResult().getCallHash()));
            assembly.getResponses().add(response);
            completeIfAnswered(assembly);
        }
    }
}
