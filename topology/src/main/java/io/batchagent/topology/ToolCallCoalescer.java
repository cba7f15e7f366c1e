package io.batchagent.topology;

import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolRequest;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolStatus;
import io.batchagent.events.state.PendingCall;
import io.batchagent.events.state.Waiter;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
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
 * The tool-call coalescer, keyed by call hash: one execution per distinct pending call.
 *
 * <ul>
 *   <li>The first request for a hash is dispatched at once as a {@code ToolCall}: coalescing adds no
 *       waiting window to it.
 *   <li>Identical requests arriving while that call is pending attach as waiters; no second call.
 *   <li>The {@code ToolResult} is fanned out as one {@code ToolResponse} per waiter, keyed by job id.
 *   <li>A pending call with no result after its tool timeout plus a grace period expires on
 *       wall-clock time (no new records needed): every waiter gets a TIMEOUT response.
 * </ul>
 *
 * <p>A tool declared with {@code coalesce=false} gets its own execution per request because its
 * requests carry a per-request hash ({@code CallHash.uncoalesced}), not because this topology
 * special-cases it.
 *
 * <p>{@code tool-requests} and {@code tool-results} must be co-partitioned (same partition count).
 */
public final class ToolCallCoalescer {

    public static final String PENDING_STORE = "pending-tool-calls";

    private ToolCallCoalescer() {}

    /**
     * @param expiryGrace how long past a tool's own timeout a pending call may wait for its result
     * @param expiryCheck how often pending calls are checked for expiry
     */
    public static Topology build(Topics topics, Duration expiryGrace, Duration expiryCheck) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(PENDING_STORE),
                Serdes.String(), topics.serde(PendingCall.class)));

        KStream<String, SpecificRecord> fromRequests = builder
                .stream(topics.toolRequests().name(),
                        Consumed.with(topics.toolRequests().keySerde(), topics.toolRequests().valueSerde()).withName("tool-requests-source"))
                .process(() -> new CoalesceRequests(expiryGrace, expiryCheck), Named.as("coalesce-requests"), PENDING_STORE);
        KStream<String, SpecificRecord> fromResults = builder
                .stream(topics.toolResults().name(),
                        Consumed.with(topics.toolResults().keySerde(), topics.toolResults().valueSerde()).withName("tool-results-source"))
                .process(FanOutResults::new, Named.as("fan-out-results"), PENDING_STORE);

        KStream<String, SpecificRecord> outcomes = fromRequests.merge(fromResults, Named.as("coalescer-outcomes"));
        Routing.branchTo(Routing.branchTo(Routing.split(outcomes, "coalescer-route"),
                "coalescer", ToolCall.class, topics.toolCalls()),
                "coalescer", ToolResponse.class, topics.toolResponses());
        return builder.build();
    }

    static final class CoalesceRequests implements Processor<String, ToolRequest, String, SpecificRecord> {

        private static final Logger LOGGER = LoggerFactory.getLogger(CoalesceRequests.class);

        private final Duration expiryGrace;
        private final Duration expiryCheck;
        private ProcessorContext<String, SpecificRecord> context;
        private KeyValueStore<String, PendingCall> pending;

        CoalesceRequests(Duration expiryGrace, Duration expiryCheck) {
            this.expiryGrace = expiryGrace;
            this.expiryCheck = expiryCheck;
        }

        @Override
        public void init(ProcessorContext<String, SpecificRecord> context) {
            this.context = context;
            this.pending = context.getStateStore(PENDING_STORE);
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
            Waiter waiter = new Waiter(request.getJobId(), request.getTurn(), request.getCallId(), request.getRequestedAtMs());
            if (call == null) {
                dispatch(key, request, waiter);
            } else {
                attachWaiter(key, call, waiter);
            }
        }

        private void dispatch(String key, ToolRequest request, Waiter waiter) {
            long now = context.currentSystemTimeMs();
            pending.put(key, new PendingCall(key, request.getTool(), now, new ArrayList<>(List.of(waiter))));
            ToolCall call = new ToolCall(key, request.getBatchId(), request.getTool(), request.getArgumentsJson(), now);
            context.forward(new Record<>(key, call, now));
            LOGGER.debug("dispatched tool call: callHash={} tool={} jobId={}", key, request.getTool().getName(), waiter.getJobId());
        }

        private void attachWaiter(String key, PendingCall call, Waiter waiter) {
            boolean replayed = call.getWaiters().stream().anyMatch(w -> w.getJobId().equals(waiter.getJobId())
                    && w.getTurn() == waiter.getTurn() && w.getCallId().equals(waiter.getCallId()));
            if (!replayed) {
                call.getWaiters().add(waiter);
                pending.put(key, call);
                LOGGER.debug("coalesced tool call: callHash={} jobId={} waiters={}", key, waiter.getJobId(), call.getWaiters().size());
            }
        }

        private void expirePending(long now) {
            List<KeyValue<String, PendingCall>> expired = new ArrayList<>();
            try (KeyValueIterator<String, PendingCall> it = pending.all()) {
                while (it.hasNext()) {
                    KeyValue<String, PendingCall> entry = it.next();
                    long deadline = entry.value.getDispatchedAtMs() + entry.value.getTool().getTimeoutMs() + expiryGrace.toMillis();
                    if (now >= deadline) {
                        expired.add(entry);
                    }
                }
            }
            for (KeyValue<String, PendingCall> entry : expired) {
                PendingCall call = entry.value;
                String tool = call.getTool().getName();
                LOGGER.warn("tool call expired without a result: callHash={} tool={} waiters={}", entry.key, tool, call.getWaiters().size());
                ToolResult timeout = ToolResult.newBuilder()
                        .setCallHash(entry.key)
                        .setTool(tool)
                        .setStatus(ToolStatus.TIMEOUT)
                        .setOutput("")
                        .setError("no result for tool '" + tool + "' within " + (now - call.getDispatchedAtMs())
                                + " ms (its timeout is " + call.getTool().getTimeoutMs() + " ms); is a tool worker running?")
                        .setExecuted(false)
                        .setStartedAtMs(call.getDispatchedAtMs())
                        .setFinishedAtMs(now)
                        .build();
                fanOut(context, call, timeout, now);
                pending.delete(entry.key);
            }
        }
    }

    static final class FanOutResults implements Processor<String, ToolResult, String, SpecificRecord> {

        private static final Logger LOGGER = LoggerFactory.getLogger(FanOutResults.class);

        private ProcessorContext<String, SpecificRecord> context;
        private KeyValueStore<String, PendingCall> pending;

        @Override
        public void init(ProcessorContext<String, SpecificRecord> context) {
            this.context = context;
            this.pending = context.getStateStore(PENDING_STORE);
        }

        @Override
        public void process(Record<String, ToolResult> record) {
            PendingCall call = record.key() == null ? null : pending.get(record.key());
            if (call == null || record.value() == null) {
                LOGGER.debug("result with no pending call (late or repeated): callHash={}", record.key());
                return;
            }
            fanOut(context, call, record.value(), context.currentSystemTimeMs());
            pending.delete(record.key());
        }
    }

    private static void fanOut(ProcessorContext<String, SpecificRecord> context, PendingCall call, ToolResult result, long now) {
        List<Waiter> waiters = call.getWaiters();
        for (int i = 0; i < waiters.size(); i++) {
            Waiter waiter = waiters.get(i);
            ToolResponse response = new ToolResponse(waiter.getJobId(), waiter.getTurn(), waiter.getCallId(), result, i > 0);
            context.forward(new Record<>(waiter.getJobId(), (SpecificRecord) response, now));
        }
    }
}
