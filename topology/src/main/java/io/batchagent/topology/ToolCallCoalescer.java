package io.batchagent.topology;

import io.batchagent.events.BatchItem;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolRequest;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.events.state.PendingCall;
import io.batchagent.events.state.Waiter;
import io.batchagent.schemas.CallHash;
import io.batchagent.schemas.OutputRefs;
import io.batchagent.schemas.ToolTimeouts;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
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
 * The tool-call coalescer, keyed by call hash: one execution per distinct pending call.
 *
 * <ul>
 *   <li>The first request for a hash is dispatched at once as a {@code ToolCall}: coalescing adds no
 *       waiting window to it.
 *   <li>Identical requests arriving while that call is pending attach as waiters; no second call.
 *   <li>The {@code ToolResult} is fanned out as one {@code ToolResponse} per waiter, keyed by job id;
 *       a waiter is one (job, attempt, turn, call id), and its response carries its attempt.
 *   <li>Every dispatched call carries its deadline ({@code ToolCall.deadlineMs}): dispatch time plus
 *       the queue allowance plus the tool's timeout ({@link ToolTimeouts}). The allowance is how
 *       long a call may wait on the tool-calls topic behind a backlog; the tool workers answer a
 *       call they pick up after its deadline with TIMEOUT without running it, and cut a call they
 *       run at its deadline. A pending call with no result by its deadline plus the expiry grace
 *       (transport slack) expires on wall-clock time (no new records needed): every waiter gets a
 *       TIMEOUT response saying that no tool worker answered.
 * </ul>
 *
 * <p>Batchable tools ({@code ToolSpec.batchable}): identical requests coalesce exactly as above;
 * the first request of each distinct hash, instead of being dispatched alone, joins the open group
 * of its tool. A group opens with its first call and is dispatched as one {@code ToolCall} carrying
 * every call in {@code batchItems} when {@code batchWindowMs} has passed on wall-clock time
 * (punctuated every {@code batchCheck}, so no newer record is needed) or at once when it holds
 * {@code batchMaxSize} calls. To meet in one group, the calls of a tool are repartitioned by the
 * tool's declaration key ({@link CallHash#declarationKey}: its name and declaration fingerprint)
 * through the internal topic {@value #BATCH_REPARTITION}, so that two batches' same-named tools with
 * different declarations never share a batched execution; the tool workers answer each item
 * with its own {@code ToolResult} keyed by the item's call hash, which this topology fans out as
 * usual. Calls to tools that are not batchable never pass through the window or the repartition.
 *
 * <p>A tool declared with {@code coalesce=false} gets its own execution per request because its
 * requests carry a per-request hash ({@code CallHash.uncoalesced}), not because this topology
 * special-cases it.
 *
 * <p>{@code tool-requests} and {@code tool-results} must be co-partitioned (same partition count).
 */
public final class ToolCallCoalescer {

    public static final String PENDING_STORE = "pending-tool-calls";
    /**
     * Waiters beyond the first, one entry each (key: call hash, '|', the waiter's identity), so that
     * attaching a waiter costs one small write however many agents wait on the same call.
     */
    public static final String WAITERS_STORE = "tool-call-waiters";
    /** Open groups of batchable calls, by declaration key: each value is the ToolCall being filled. */
    public static final String BATCH_STORE = "open-tool-call-batches";
    /** The internal topic (and its repartition name) through which batchable calls meet by declaration key. */
    public static final String BATCH_REPARTITION = "batchable-tool-calls";
    /** How often open batches are checked against their window unless a build method says otherwise. */
    public static final Duration DEFAULT_BATCH_CHECK = Duration.ofMillis(5);

    private ToolCallCoalescer() {}

    /**
     * As {@link #build(Topics, Duration, Duration, Duration, Duration)} with the
     * {@link ToolTimeouts#DEFAULT_QUEUE_ALLOWANCE} and open batches checked every
     * {@link #DEFAULT_BATCH_CHECK}.
     */
    public static Topology build(Topics topics, Duration expiryGrace, Duration expiryCheck) {
        return build(topics, ToolTimeouts.DEFAULT_QUEUE_ALLOWANCE, expiryGrace, expiryCheck, DEFAULT_BATCH_CHECK);
    }

    /** As {@link #build(Topics, Duration, Duration, Duration, Duration)} with the {@link ToolTimeouts#DEFAULT_QUEUE_ALLOWANCE}. */
    public static Topology build(Topics topics, Duration expiryGrace, Duration expiryCheck, Duration batchCheck) {
        return build(topics, ToolTimeouts.DEFAULT_QUEUE_ALLOWANCE, expiryGrace, expiryCheck, batchCheck);
    }

    /**
     * @param queueAllowance how long a dispatched call may wait to be picked up by a tool worker: its
     *     deadline is dispatch + this + the tool's timeout ({@link ToolTimeouts})
     * @param expiryGrace how long past its deadline (plus its batch window, for a batchable tool) a
     *     pending call may wait for its result before its waiters get a TIMEOUT from this topology
     * @param expiryCheck how often pending calls are checked for expiry
     * @param batchCheck how often open batches are checked against their window, on wall-clock time;
     *     a batch is dispatched at most this long after its window closes (and no sooner than the
     *     Streams poll loop comes round)
     */
    public static Topology build(
            Topics topics, Duration queueAllowance, Duration expiryGrace, Duration expiryCheck, Duration batchCheck) {
        if (batchCheck.isNegative() || batchCheck.isZero()) {
            throw new IllegalArgumentException("batchCheck must be positive, got " + batchCheck);
        }
        if (queueAllowance.isNegative()) {
            throw new IllegalArgumentException("queueAllowance must not be negative, got " + queueAllowance);
        }
        StreamsBuilder builder = new StreamsBuilder();
        builder.addStateStore(Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(PENDING_STORE), Serdes.String(), topics.serde(PendingCall.class)));
        builder.addStateStore(Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(WAITERS_STORE), Serdes.String(), topics.serde(Waiter.class)));
        builder.addStateStore(Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(BATCH_STORE),
                Serdes.String(),
                topics.toolCalls().valueSerde()));

        KStream<String, SpecificRecord> fromRequests = builder.stream(
                        topics.toolRequests().name(),
                        StrictValues.consumed(topics.toolRequests()).withName("tool-requests-source"))
                .process(
                        () -> new CoalesceRequests(queueAllowance, expiryGrace, expiryCheck),
                        Named.as("coalesce-requests"),
                        PENDING_STORE,
                        WAITERS_STORE);
        KStream<String, SpecificRecord> fromResults = builder.stream(
                        topics.toolResults().name(),
                        StrictValues.consumed(topics.toolResults()).withName("tool-results-source"))
                .process(
                        () -> new FanOutResults(topics.outputRefs()),
                        Named.as("fan-out-results"),
                        PENDING_STORE,
                        WAITERS_STORE);

        KStream<String, SpecificRecord> outcomes = fromRequests.merge(fromResults, Named.as("coalescer-outcomes"));
        Routing.branchTo(
                        Routing.branchTo(
                                Routing.split(outcomes, "coalescer-route"),
                                "coalescer",
                                ToolCall.class,
                                topics.toolCalls()),
                        "coalescer",
                        ToolResponse.class,
                        topics.toolResponses())
                .branch(
                        (key, value) -> value instanceof ToolRequest,
                        Branched.withConsumer(
                                batchable -> groupBatchable(batchable, topics, queueAllowance, batchCheck),
                                "-batchable"));
        return builder.build();
    }

    /** Batchable first requests, keyed by declaration key, meet in one partition and leave as grouped ToolCalls. */
    private static void groupBatchable(
            KStream<String, SpecificRecord> batchable, Topics topics, Duration queueAllowance, Duration batchCheck) {
        batchable
                .mapValues(value -> (ToolRequest) value, Named.as("batchable-as-ToolRequest"))
                .repartition(Repartitioned.with(
                                topics.toolRequests().keySerde(),
                                topics.toolRequests().valueSerde())
                        .withName(BATCH_REPARTITION))
                .process(() -> new BatchCalls(queueAllowance, batchCheck), Named.as("batch-calls"), BATCH_STORE)
                .to(
                        topics.toolCalls().name(),
                        Produced.with(
                                        topics.toolCalls().keySerde(),
                                        topics.toolCalls().valueSerde())
                                .withName("batch-calls-to-" + topics.toolCalls().name()));
    }

    static final class CoalesceRequests implements Processor<String, ToolRequest, String, SpecificRecord> {

        private static final Logger LOGGER = LoggerFactory.getLogger(CoalesceRequests.class);

        private final Duration queueAllowance;
        private final Duration expiryGrace;
        private final Duration expiryCheck;
        private ProcessorContext<String, SpecificRecord> context;
        private KeyValueStore<String, PendingCall> pending;
        private KeyValueStore<String, Waiter> waiters;

        CoalesceRequests(Duration queueAllowance, Duration expiryGrace, Duration expiryCheck) {
            this.queueAllowance = queueAllowance;
            this.expiryGrace = expiryGrace;
            this.expiryCheck = expiryCheck;
        }

        @Override
        public void init(ProcessorContext<String, SpecificRecord> context) {
            this.context = context;
            this.pending = context.getStateStore(PENDING_STORE);
            this.waiters = context.getStateStore(WAITERS_STORE);
            context.schedule(expiryCheck, PunctuationType.WALL_CLOCK_TIME, this::expirePending);
        }

        @Override
        public void process(Record<String, ToolRequest> record) {
            ToolRequest request = record.value();
            if (request == null) {
                return;
            }
            String key = request.getCallHash();
            PendingCall call = pending.get(key);
            Waiter waiter = new Waiter(
                    request.getJobId(),
                    request.getTurn(),
                    request.getCallId(),
                    request.getRequestedAtMs(),
                    request.getAttempt());
            if (call == null && request.getTool().getBatchable()) {
                holdForBatch(key, request, waiter);
            } else if (call == null) {
                dispatch(key, request, waiter);
            } else {
                attachWaiter(key, call, waiter);
            }
        }

        /** Records the waiter as for a dispatch, and hands the call to its tool's batch instead of sending it. */
        private void holdForBatch(String key, ToolRequest request, Waiter waiter) {
            long now = context.currentSystemTimeMs();
            pending.put(key, new PendingCall(key, request.getTool(), now, new ArrayList<>(List.of(waiter))));
            context.forward(new Record<>(CallHash.declarationKey(request.getTool()), (SpecificRecord) request, now));
            LOGGER.debug(
                    "batchable tool call held for its batch: callHash={} tool={} jobId={}",
                    key,
                    request.getTool().getName(),
                    waiter.getJobId());
        }

        private void dispatch(String key, ToolRequest request, Waiter waiter) {
            long now = context.currentSystemTimeMs();
            pending.put(key, new PendingCall(key, request.getTool(), now, new ArrayList<>(List.of(waiter))));
            ToolCall call = new ToolCall(
                    key,
                    request.getBatchId(),
                    request.getTool(),
                    request.getArgumentsJson(),
                    now,
                    new ArrayList<>(),
                    ToolTimeouts.deadlineMs(now, request.getTool(), queueAllowance));
            context.forward(new Record<>(key, call, now));
            LOGGER.debug(
                    "dispatched tool call: callHash={} tool={} jobId={}",
                    key,
                    request.getTool().getName(),
                    waiter.getJobId());
        }

        private void attachWaiter(String key, PendingCall call, Waiter waiter) {
            boolean first = call.getWaiters().stream().anyMatch(w -> sameWaiter(w, waiter));
            String waiterKey = waiterKey(key, waiter);
            if (!first && waiters.get(waiterKey) == null) { // else a replay of a request already attached
                waiters.put(waiterKey, waiter);
                LOGGER.debug("coalesced tool call: callHash={} jobId={}", key, waiter.getJobId());
            }
        }

        private void expirePending(long now) {
            List<KeyValue<String, PendingCall>> expired = new ArrayList<>();
            try (KeyValueIterator<String, PendingCall> it = pending.all()) {
                while (it.hasNext()) {
                    KeyValue<String, PendingCall> entry = it.next();
                    if (now >= expiresAtMs(entry.value)) {
                        expired.add(entry);
                    }
                }
            }
            for (KeyValue<String, PendingCall> entry : expired) {
                PendingCall call = entry.value;
                String tool = call.getTool().getName();
                LOGGER.warn(
                        "tool call expired without a result: callHash={} tool={} waiters={}",
                        entry.key,
                        tool,
                        call.getWaiters().size());
                ToolResult timeout = ToolResult.newBuilder()
                        .setCallHash(entry.key)
                        .setTool(tool)
                        .setStatus(ToolStatus.TIMEOUT)
                        .setOutput("")
                        .setError("no result for tool '" + tool + "' within " + (now - call.getDispatchedAtMs())
                                + " ms: no tool worker answered by its deadline (queue allowance "
                                + queueAllowance.toMillis()
                                + " ms + timeout " + ToolTimeouts.timeoutMs(call.getTool()) + " ms) plus "
                                + expiryGrace.toMillis() + " ms; is a tool worker running?")
                        .setExecuted(false)
                        .setStartedAtMs(call.getDispatchedAtMs())
                        .setFinishedAtMs(now)
                        .build();
                fanOut(context, waiters, call, timeout, now);
                pending.delete(entry.key);
            }
        }

        /** The call's deadline (its batch window included, for a batchable tool) plus the grace. */
        private long expiresAtMs(PendingCall call) {
            ToolSpec tool = call.getTool();
            long window = tool.getBatchable() ? Math.max(0, tool.getBatchWindowMs()) : 0;
            return ToolTimeouts.deadlineMs(call.getDispatchedAtMs() + window, tool, queueAllowance)
                    + expiryGrace.toMillis();
        }
    }

    /**
     * Groups the distinct calls of each batchable tool declaration (keyed by declaration key) into
     * one ToolCall per window. The group's call hash identifies the group (a hash of its items'
     * hashes); each item keeps its own. A group's deadline counts from its dispatch.
     */
    static final class BatchCalls implements Processor<String, ToolRequest, String, ToolCall> {

        private static final Logger LOGGER = LoggerFactory.getLogger(BatchCalls.class);

        private final Duration queueAllowance;
        private final Duration batchCheck;
        private ProcessorContext<String, ToolCall> context;
        private KeyValueStore<String, ToolCall> open;

        BatchCalls(Duration queueAllowance, Duration batchCheck) {
            this.queueAllowance = queueAllowance;
            this.batchCheck = batchCheck;
        }

        @Override
        public void init(ProcessorContext<String, ToolCall> context) {
            this.context = context;
            this.open = context.getStateStore(BATCH_STORE);
            context.schedule(batchCheck, PunctuationType.WALL_CLOCK_TIME, this::dispatchDueBatches);
        }

        @Override
        public void process(Record<String, ToolRequest> record) {
            ToolRequest request = record.value();
            if (request == null || record.key() == null) {
                return;
            }
            String group = record.key();
            long now = context.currentSystemTimeMs();
            ToolCall batch = open.get(group);
            if (batch == null) {
                batch = new ToolCall("", request.getBatchId(), request.getTool(), "[]", now, new ArrayList<>(), 0L);
            }
            boolean replayed =
                    batch.getBatchItems().stream().anyMatch(i -> i.getCallHash().equals(request.getCallHash()));
            if (!replayed) {
                batch.getBatchItems().add(new BatchItem(request.getCallHash(), request.getArgumentsJson()));
            }
            int maxSize = Math.max(1, request.getTool().getBatchMaxSize());
            if (batch.getBatchItems().size() >= maxSize) {
                dispatchBatch(group, batch, now);
            } else {
                open.put(group, batch);
            }
        }

        private void dispatchDueBatches(long now) {
            List<KeyValue<String, ToolCall>> due = new ArrayList<>();
            try (KeyValueIterator<String, ToolCall> it = open.all()) {
                while (it.hasNext()) {
                    KeyValue<String, ToolCall> entry = it.next();
                    if (now
                            >= entry.value.getDispatchedAtMs()
                                    + Math.max(0, entry.value.getTool().getBatchWindowMs())) {
                        due.add(entry);
                    }
                }
            }
            due.forEach(entry -> dispatchBatch(entry.key, entry.value, now));
        }

        private void dispatchBatch(String group, ToolCall batch, long now) {
            open.delete(group);
            List<String> hashes =
                    batch.getBatchItems().stream().map(BatchItem::getCallHash).toList();
            String groupHash = CallHash.ofCanonical(group, "batch:" + String.join(",", hashes));
            String arguments = "["
                    + String.join(
                            ",",
                            batch.getBatchItems().stream()
                                    .map(BatchItem::getArgumentsJson)
                                    .toList()) + "]";
            ToolCall call = new ToolCall(
                    groupHash,
                    batch.getBatchId(),
                    batch.getTool(),
                    arguments,
                    now,
                    batch.getBatchItems(),
                    ToolTimeouts.deadlineMs(now, batch.getTool(), queueAllowance));
            context.forward(new Record<>(groupHash, call, now));
            LOGGER.debug(
                    "dispatched batched tool call: callHash={} tool={} items={} heldMs={}",
                    groupHash,
                    batch.getTool().getName(),
                    hashes.size(),
                    now - batch.getDispatchedAtMs());
        }
    }

    static final class FanOutResults implements Processor<String, ToolResult, String, SpecificRecord> {

        private static final Logger LOGGER = LoggerFactory.getLogger(FanOutResults.class);

        private final OutputRefs outputRefs;
        private ProcessorContext<String, SpecificRecord> context;
        private KeyValueStore<String, PendingCall> pending;
        private KeyValueStore<String, Waiter> waiters;

        FanOutResults(OutputRefs outputRefs) {
            this.outputRefs = outputRefs;
        }

        @Override
        public void init(ProcessorContext<String, SpecificRecord> context) {
            this.context = context;
            this.pending = context.getStateStore(PENDING_STORE);
            this.waiters = context.getStateStore(WAITERS_STORE);
        }

        @Override
        public void process(Record<String, ToolResult> record) {
            PendingCall call = record.key() == null ? null : pending.get(record.key());
            if (call == null || record.value() == null) {
                LOGGER.debug("result with no pending call (late or repeated): callHash={}", record.key());
                return;
            }
            // The output is on tool-results once: waiters get a reference to this record, not a copy (OutputRefs).
            ToolResult result = context.recordMetadata()
                    .map(from -> outputRefs.referenced(record.value(), from.topic(), from.partition(), from.offset()))
                    .orElse(record.value());
            fanOut(context, waiters, call, result, context.currentSystemTimeMs());
            pending.delete(record.key());
        }
    }

    private static boolean sameWaiter(Waiter a, Waiter b) {
        return a.getJobId().equals(b.getJobId())
                && a.getAttempt() == b.getAttempt()
                && a.getTurn() == b.getTurn()
                && a.getCallId().equals(b.getCallId());
    }

    /**
     * Call hashes are hex, so the '|' after one ends it: a prefix scan finds exactly its waiters. The
     * attempt is part of the waiter's identity: a resubmitted job waits anew for the same call.
     */
    private static String waiterKey(String callHash, Waiter waiter) {
        return callHash
                + '|'
                + waiter.getJobId()
                + '|'
                + waiter.getAttempt()
                + '|'
                + waiter.getTurn()
                + '|'
                + waiter.getCallId();
    }

    /** Sends the result to the first requester, then to every attached waiter, and forgets them. */
    private static void fanOut(
            ProcessorContext<String, SpecificRecord> context,
            KeyValueStore<String, Waiter> waiters,
            PendingCall call,
            ToolResult result,
            long now) {
        for (Waiter first : call.getWaiters()) {
            forward(context, first, result, false, now);
        }
        List<String> attached = new ArrayList<>();
        try (KeyValueIterator<String, Waiter> it =
                waiters.prefixScan(call.getCallHash() + '|', new StringSerializer())) {
            while (it.hasNext()) {
                KeyValue<String, Waiter> entry = it.next();
                forward(context, entry.value, result, true, now);
                attached.add(entry.key);
            }
        }
        attached.forEach(waiters::delete);
    }

    private static void forward(
            ProcessorContext<String, SpecificRecord> context,
            Waiter waiter,
            ToolResult result,
            boolean coalesced,
            long now) {
        ToolResponse response = new ToolResponse(
                waiter.getJobId(), waiter.getTurn(), waiter.getCallId(), result, coalesced, waiter.getAttempt());
        context.forward(new Record<>(waiter.getJobId(), (SpecificRecord) response, now));
    }
}
