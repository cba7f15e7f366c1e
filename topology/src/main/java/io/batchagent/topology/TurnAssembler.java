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
import io.batchagent.events.ToolStatus;
import io.batchagent.events.state.TurnAssembly;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serdes;
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
 * The turn assembler, keyed by job id: when every tool call of an agent's turn has its result, it
 * emits the agent's next {@code AgentTurn} on {@code agent-continuations} (the conversation plus one tool message per call, in the
 * order the model asked for them).
 *
 * <p>The waiting turn (from {@code agent-waits}) and the responses (from {@code tool-responses}) may
 * arrive in either order; both are buffered in the {@value #ASSEMBLY_STORE} store. Records for a
 * turn already assembled, or for an older turn, are late duplicates (a replayed worker) and are
 * dropped. A turn that would exceed the batch's {@code maxTurns} ends the job FAILED with
 * MAX_TURNS_EXCEEDED. The two input topics must be co-partitioned.
 */
public final class TurnAssembler {

    public static final String ASSEMBLY_STORE = "turn-assembly";
    public static final String SPECS_STORE = "turn-assembler-batch-specs";

    private TurnAssembler() {}

    /** How long an assembled job's entry (its last turn number, to drop late duplicates) is kept. */
    public static final Duration DEFAULT_RETENTION = Duration.ofHours(1);

    public static Topology build(Topics topics) {
        return build(topics, DEFAULT_RETENTION);
    }

    /**
     * @param retention how long after its last change an entry with nothing pending is kept; late
     *     duplicates older than this are no longer recognised (they would wait in the store until
     *     the next cleanup and never complete a turn)
     */
    public static Topology build(Topics topics, Duration retention) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.globalTable(topics.batchSpecs().name(),
                Consumed.with(Serdes.String(), topics.batchSpecs().valueSerde()).withName("turn-assembler-specs-source"),
                Materialized.<String, BatchSpec, KeyValueStore<Bytes, byte[]>>as(SPECS_STORE)
                        .withKeySerde(Serdes.String()).withValueSerde(topics.batchSpecs().valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(ASSEMBLY_STORE),
                Serdes.String(), topics.serde(TurnAssembly.class)));

        KStream<String, SpecificRecord> fromWaits = builder
                .stream(topics.agentWaits().name(),
                        Consumed.with(topics.agentWaits().keySerde(), topics.agentWaits().valueSerde()).withName("agent-waits-source"))
                .process(() -> new RecordWaitingTurn(retention), Named.as("record-waiting-turn"), ASSEMBLY_STORE);
        KStream<String, SpecificRecord> fromResponses = builder
                .stream(topics.toolResponses().name(),
                        Consumed.with(topics.toolResponses().keySerde(), topics.toolResponses().valueSerde()).withName("tool-responses-source"))
                .process(CollectToolResponse::new, Named.as("collect-tool-response"), ASSEMBLY_STORE);

        KStream<String, SpecificRecord> outcomes = fromWaits.merge(fromResponses, Named.as("assembler-outcomes"));
        Routing.branchTo(Routing.branchTo(Routing.split(outcomes, "assembler-route"),
                "assembler", AgentTurn.class, topics.agentContinuations()),
                "assembler", AgentResult.class, topics.results());
        return builder.build();
    }

    /** Shared by both processors: the store, the specs, and the completion check. */
    private abstract static class Assembling<V> implements Processor<String, V, String, SpecificRecord> {

        private static final Logger LOGGER = LoggerFactory.getLogger(TurnAssembler.class);

        ProcessorContext<String, SpecificRecord> context;
        KeyValueStore<String, TurnAssembly> assemblies;
        private KeyValueStore<String, ?> specs;

        @Override
        public void init(ProcessorContext<String, SpecificRecord> context) {
            this.context = context;
            this.assemblies = context.getStateStore(ASSEMBLY_STORE);
            this.specs = Routing.store(context, SPECS_STORE);
        }

        TurnAssembly load(String jobId) {
            TurnAssembly assembly = assemblies.get(jobId);
            return assembly != null ? assembly
                    : TurnAssembly.newBuilder().setJobId(jobId).setResponses(new ArrayList<>()).build();
        }

        /** Emits the next turn if every call of the waiting turn is answered; stores the state otherwise. */
        void completeIfAnswered(TurnAssembly assembly) {
            assembly.setUpdatedAtMs(context.currentSystemTimeMs());
            AgentTurn waiting = assembly.getWaiting();
            if (waiting == null) {
                assemblies.put(assembly.getJobId(), assembly);
                return;
            }
            Map<String, ToolResponse> byCallId = new HashMap<>();
            for (ToolResponse response : assembly.getResponses()) {
                if (response.getTurn() == waiting.getTurn()) {
                    byCallId.put(response.getCallId(), response);
                }
            }
            if (!waiting.getPendingCalls().stream().allMatch(call -> byCallId.containsKey(call.getId()))) {
                assemblies.put(assembly.getJobId(), assembly);
                return;
            }
            long now = context.currentSystemTimeMs();
            assembly.setCompletedTurn(waiting.getTurn());
            assembly.setWaiting(null);
            assembly.setResponses(new ArrayList<>());
            assemblies.put(assembly.getJobId(), assembly);
            context.forward(new Record<>(waiting.getJobId(), nextTurnOrFailure(waiting, byCallId, now), now));
        }

        private SpecificRecord nextTurnOrFailure(AgentTurn waiting, Map<String, ToolResponse> byCallId, long now) {
            List<ChatMessage> messages = new ArrayList<>(waiting.getMessages());
            for (ToolCallRef call : waiting.getPendingCalls()) {
                messages.add(toolMessage(call, byCallId.get(call.getId()).getResult()));
            }
            Timings timings = Timings.newBuilder(waiting.getTimings())
                    .setToolWaitMs(waiting.getTimings().getToolWaitMs() + Math.max(0, now - waiting.getEmittedAtMs()))
                    .build();
            AgentTurn next = AgentTurn.newBuilder(waiting)
                    .setTurn(waiting.getTurn() + 1)
                    .setMessages(messages)
                    .setPendingCalls(List.of())
                    .setTimings(timings)
                    .setEmittedAtMs(now)
                    .build();
            BatchSpec spec = Routing.lookup(specs, waiting.getBatchId());
            if (spec == null) {
                return Outcomes.failed(next, ErrorReason.UNKNOWN_BATCH,
                        "batch '" + waiting.getBatchId() + "' is not known to the turn assembler", now);
            }
            if (spec.getCancelled()) {
                AgentResult cancelled = Outcomes.cancelled(Outcomes.failed(next, ErrorReason.CANCELLED,
                        "batch '" + waiting.getBatchId() + "' was cancelled; no further turn was started", now));
                cancelled.setTurns(waiting.getTurn());
                return cancelled;
            }
            if (spec.getDeadlineMs() > 0 && now - waiting.getSubmittedAtMs() > spec.getDeadlineMs()) {
                AgentResult late = Outcomes.failed(next, ErrorReason.TIMEOUT, "the agent deadline of "
                        + spec.getDeadlineMs() + " ms (across all turns) passed after " + waiting.getTurn() + " turns", now);
                late.setTurns(waiting.getTurn());
                return late;
            }
            if (next.getTurn() > spec.getMaxTurns()) {
                LOGGER.debug("max turns reached: jobId={} turn={}", waiting.getJobId(), waiting.getTurn());
                AgentResult failed = Outcomes.failed(next, ErrorReason.MAX_TURNS_EXCEEDED,
                        "the agent used all " + spec.getMaxTurns() + " turns (max_turns) and still asked for tools "
                                + "instead of giving a final answer", now);
                failed.setTurns(waiting.getTurn());
                return failed;
            }
            return next;
        }

        private static ChatMessage toolMessage(ToolCallRef call, ToolResult result) {
            String content = result.getStatus() == ToolStatus.OK
                    ? result.getOutput()
                    : "ERROR (" + result.getStatus() + "): " + (result.getError() != null ? result.getError() : result.getOutput());
            return ChatMessage.newBuilder().setRole(Role.TOOL).setToolCallId(call.getId()).setContent(content).build();
        }
    }

    static final class RecordWaitingTurn extends Assembling<AgentTurn> {
        private final Duration retention;

        RecordWaitingTurn(Duration retention) {
            this.retention = retention;
        }

        @Override
        public void init(ProcessorContext<String, SpecificRecord> context) {
            super.init(context);
            Duration every = retention.compareTo(Duration.ofMinutes(1)) < 0 ? retention : Duration.ofMinutes(1);
            context.schedule(every, PunctuationType.WALL_CLOCK_TIME, this::dropIdleAssembledEntries);
        }

        /** Entries of jobs past their last assembled turn with nothing pending only guard against late duplicates. */
        private void dropIdleAssembledEntries(long now) {
            List<String> idle = new ArrayList<>();
            try (KeyValueIterator<String, TurnAssembly> it = assemblies.all()) {
                while (it.hasNext()) {
                    var entry = it.next();
                    TurnAssembly assembly = entry.value;
                    if (assembly.getWaiting() == null && assembly.getResponses().isEmpty()
                            && now - assembly.getUpdatedAtMs() >= retention.toMillis()) {
                        idle.add(entry.key);
                    }
                }
            }
            idle.forEach(assemblies::delete);
        }

        @Override
        public void process(Record<String, AgentTurn> record) {
            AgentTurn waiting = record.value();
            if (waiting == null) {
                return;
            }
            TurnAssembly assembly = load(waiting.getJobId());
            AgentTurn current = assembly.getWaiting();
            if (waiting.getTurn() <= assembly.getCompletedTurn()
                    || (current != null && current.getTurn() > waiting.getTurn())) {
                return; // a replay of a turn already assembled or superseded
            }
            assembly.setWaiting(waiting);
            assembly.getResponses().removeIf(r -> r.getTurn() < waiting.getTurn());
            completeIfAnswered(assembly);
        }
    }

    static final class CollectToolResponse extends Assembling<ToolResponse> {
        @Override
        public void process(Record<String, ToolResponse> record) {
            ToolResponse response = record.value();
            if (response == null) {
                return;
            }
            TurnAssembly assembly = load(response.getJobId());
            AgentTurn current = assembly.getWaiting();
            if (response.getTurn() <= assembly.getCompletedTurn()
                    || (current != null && response.getTurn() < current.getTurn())) {
                return; // late: that turn is assembled already
            }
            assembly.getResponses().removeIf(r -> r.getTurn() == response.getTurn() && r.getCallId().equals(response.getCallId()));
            assembly.getResponses().add(response);
            completeIfAnswered(assembly);
        }
    }
}
