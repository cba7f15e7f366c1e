package io.batchagent.schemas;

import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolRequest;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolResult;
import io.batchagent.schemas.serde.EventSerdes;
import java.util.List;
import java.util.Map;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/**
 * The immutable catalogue of BatchAgent's topics: names (with the configured prefix), key and
 * value serdes, and cleanup policy. Every stage takes its topics from here; no code names a
 * topic by string.
 *
 * <p>Keys: everything about one agent is keyed by job id, everything about one tool call by its
 * {@link CallHash}, specs by batch id. Topics keyed the same way must have the same partition count
 * (the turn assembler joins {@code agent-waits} with {@code tool-responses}).
 */
public final class Topics {

    /** One topic: its full name, serdes, and whether it is compacted. */
    public record Topic<K, V>(String name, Serde<K> keySerde, Serde<V> valueSerde, boolean compacted) {}

    static {
        EventSerdes.trustEventClasses();
    }

    private final Topic<String, BatchSpec> batchSpecs;
    private final Topic<String, AgentJob> agentJobs;
    private final Topic<String, AgentTurn> agentTurns;
    private final Topic<String, AgentTurn> agentContinuations;
    private final Topic<String, AgentTurn> agentWaits;
    private final Topic<String, ToolRequest> toolRequests;
    private final Topic<String, ToolCall> toolCalls;
    private final Topic<String, ToolResult> toolResults;
    private final Topic<String, ToolResponse> toolResponses;
    private final Topic<String, AgentResult> results;
    private final Topic<String, DeadLetter> deadLetters;

    private final EventSerdes serdes;
    private final OutputRefs outputRefs;

    private Topics(String prefix, EventSerdes serdes, OutputRefs outputRefs) {
        this.serdes = serdes;
        this.outputRefs = outputRefs;
        this.batchSpecs = topic(prefix, "batch-specs", serdes, BatchSpec.class, true);
        this.agentJobs = topic(prefix, "agent-jobs", serdes, AgentJob.class, false);
        this.agentTurns = topic(prefix, "agent-turns", serdes, AgentTurn.class, false);
        this.agentContinuations = topic(prefix, "agent-continuations", serdes, AgentTurn.class, false);
        this.agentWaits = topic(prefix, "agent-waits", serdes, AgentTurn.class, false);
        this.toolRequests = topic(prefix, "tool-requests", serdes, ToolRequest.class, false);
        this.toolCalls = topic(prefix, "tool-calls", serdes, ToolCall.class, false);
        this.toolResults = topic(prefix, "tool-results", serdes, ToolResult.class, false);
        this.toolResponses = topic(prefix, "tool-responses", serdes, ToolResponse.class, false);
        this.results = topic(prefix, "results", serdes, AgentResult.class, true);
        this.deadLetters = topic(prefix, "dead-letters", serdes, DeadLetter.class, false);
    }

    /**
     * Builds the catalogue.
     *
     * @param prefix prepended to every topic name (may be empty), e.g. {@code "team-a."}
     * @param serdeConfig configuration for the value serde; see {@link EventSerdes}; also the inline
     *     limit of tool outputs ({@value OutputRefs#INLINE_LIMIT_CONFIG})
     */
    public static Topics create(String prefix, Map<String, ?> serdeConfig) {
        return new Topics(prefix == null ? "" : prefix, EventSerdes.create(serdeConfig), OutputRefs.from(serdeConfig));
    }

    /** The catalogue with no prefix and the embedded (registry-free) serde. */
    public static Topics defaults() {
        return create("", Map.of());
    }

    private static <V extends SpecificRecord> Topic<String, V> topic(
            String prefix, String name, EventSerdes serdes, Class<V> type, boolean compacted) {
        return new Topic<>(prefix + name, Serdes.String(), serdes.valueSerde(type), compacted);
    }

    public Topic<String, BatchSpec> batchSpecs() {
        return batchSpecs;
    }

    public Topic<String, AgentJob> agentJobs() {
        return agentJobs;
    }
    /** First turns of agents (turn 1), written by the job compiler. */
    public Topic<String, AgentTurn> agentTurns() {
        return agentTurns;
    }
    /**
     * Turns of continuing agents (turn >= 2: after their tool calls, or a repair), which inference
     * workers drain before any first turn, so continuing agents never wait behind the whole backlog.
     */
    public Topic<String, AgentTurn> agentContinuations() {
        return agentContinuations;
    }

    public Topic<String, AgentTurn> agentWaits() {
        return agentWaits;
    }

    public Topic<String, ToolRequest> toolRequests() {
        return toolRequests;
    }

    public Topic<String, ToolCall> toolCalls() {
        return toolCalls;
    }

    public Topic<String, ToolResult> toolResults() {
        return toolResults;
    }

    public Topic<String, ToolResponse> toolResponses() {
        return toolResponses;
    }

    public Topic<String, AgentResult> results() {
        return results;
    }

    public Topic<String, DeadLetter> deadLetters() {
        return deadLetters;
    }

    /** A value serde configured like the topics' serdes, for state stores and their changelogs. */
    public <T extends SpecificRecord> Serde<T> serde(Class<T> type) {
        return serdes.valueSerde(type);
    }

    /** Which tool outputs travel by reference to their tool-results record; the same in every process. */
    public OutputRefs outputRefs() {
        return outputRefs;
    }

    /** The record budget of these topics and every stage that writes them. */
    public RecordLimits limits() {
        return serdes.limits();
    }

    /**
     * The topics keyed by job id whose records move a job forward: a record of one of them that cannot
     * be processed must end its job (the key names it). Not {@code results}: a result already ends its job.
     */
    public List<Topic<String, ?>> jobKeyed() {
        return List.of(agentJobs, agentTurns, agentWaits, toolResponses);
    }

    /** Every topic, in flow order. */
    public List<Topic<String, ?>> all() {
        return List.of(
                batchSpecs,
                agentJobs,
                agentTurns,
                agentContinuations,
                agentWaits,
                toolRequests,
                toolCalls,
                toolResults,
                toolResponses,
                results,
                deadLetters);
    }
}
