package io.batchagent.topology;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.events.WorkflowStage;
import io.batchagent.events.state.MapOutcome;
import io.batchagent.events.state.WorkflowProgress;
import io.batchagent.schemas.JobIds;
import io.batchagent.schemas.Topics;
import java.util.HashMap;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives plan -> map -> reduce workflows as events. The three batches of a workflow are ordinary
 * batches whose specs carry a {@code WorkflowStage}; this topology follows their results:
 *
 * <ul>
 *   <li>the plan's final result fans out one map job per element of its output's items array
 *       (a failed plan, or one without the array, ends the workflow: the reduce job gets a FAILED
 *       result saying why);
 *   <li>each map job's final result is recorded as its own entry of {@value #OUTCOMES_STORE} (the
 *       latest per map job, so replays change nothing), and {@value #PROGRESS_STORE} keeps only counts:
 *       no state value grows with the number of map jobs;
 *   <li>when every map job is final, succeeded or failed, the reduce job is submitted once with all
 *       of them, failed ones marked, in input order ({@link ReduceInput}): every output whole when they
 *       fit a quarter of the record budget ({@value #REDUCE_INPUT_SHARE}), else an equal share of it each.
 * </ul>
 *
 * <p>Results are re-keyed by workflow id (repartition topic {@value #REPARTITION}) so one task owns
 * each workflow's state; with exactly-once processing the fan-out and the reduce submission happen once
 * across restarts.
 */
public final class WorkflowCoordinator {

    public static final String SPECS_STORE = "workflow-batch-specs";
    public static final String PROGRESS_STORE = "workflow-progress";
    /** One entry per map job's final outcome; key: workflow id, '/', the map job's index as 10 digits. */
    public static final String OUTCOMES_STORE = "workflow-map-outcomes";

    public static final String REPARTITION = "results-by-workflow";
    /**
     * The reduce job's input may use this fraction (1/n) of the largest record value, leaving the rest
     * for the template and the reduce agent's own turns.
     */
    public static final int REDUCE_INPUT_SHARE = 4;

    private static final int INDEX_DIGITS = 10;

    private static final ObjectMapper JSON = new ObjectMapper();

    private WorkflowCoordinator() {}

    /** The job id of the reduce job of a workflow. */
    public static String reduceJobId(String reduceBatchId) {
        return JobIds.reduceJob(reduceBatchId);
    }

    /** The id of map job {@code index}, as the client that awaits it derives it. */
    public static String jobId(String batchId, long index) {
        return JobIds.sequential(batchId, index);
    }

    public static Topology build(Topics topics) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.globalTable(
                topics.batchSpecs().name(),
                Consumed.with(Serdes.String(), topics.batchSpecs().valueSerde()).withName("workflow-specs-source"),
                Materialized.<String, BatchSpec, KeyValueStore<Bytes, byte[]>>as(SPECS_STORE)
                        .withKeySerde(Serdes.String())
                        .withValueSerde(topics.batchSpecs().valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(PROGRESS_STORE), Serdes.String(), topics.serde(WorkflowProgress.class)));
        builder.addStateStore(Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(OUTCOMES_STORE), Serdes.String(), topics.serde(MapOutcome.class)));
        int reduceBudget = topics.limits().maxValueBytes() / REDUCE_INPUT_SHARE;

        KStream<String, SpecificRecord> outcomes = builder.stream(
                        topics.results().name(),
                        Consumed.with(
                                        topics.results().keySerde(),
                                        topics.results().valueSerde())
                                .withName("workflow-results-source"))
                .process(KeyByWorkflow::new, Named.as("key-by-workflow"))
                .repartition(
                        Repartitioned.with(Serdes.String(), topics.results().valueSerde())
                                .withName(REPARTITION))
                .process(
                        () -> new CoordinateWorkflow(reduceBudget),
                        Named.as("coordinate-workflow"),
                        PROGRESS_STORE,
                        OUTCOMES_STORE);
        Routing.branchTo(
                Routing.branchTo(
                        Routing.split(outcomes, "workflow-route"), "workflow", AgentJob.class, topics.agentJobs()),
                "workflow",
                AgentResult.class,
                topics.results());
        return builder.build();
    }

    /** Keeps the results of workflow batches, keyed by workflow id. */
    static final class KeyByWorkflow implements Processor<String, AgentResult, String, AgentResult> {
        private ProcessorContext<String, AgentResult> context;
        private KeyValueStore<String, ?> specs;

        @Override
        public void init(ProcessorContext<String, AgentResult> context) {
            this.context = context;
            this.specs = Routing.store(context, SPECS_STORE);
        }

        @Override
        public void process(Record<String, AgentResult> record) {
            AgentResult result = record.value();
            if (result == null || result.getBatchId().isEmpty()) {
                return;
            }
            BatchSpec spec = Routing.lookup(specs, result.getBatchId());
            if (spec != null && spec.getWorkflow() != null) {
                context.forward(record.withKey(spec.getWorkflow().getWorkflowId()));
            }
        }
    }

    static final class CoordinateWorkflow implements Processor<String, AgentResult, String, SpecificRecord> {

        private static final Logger LOGGER = LoggerFactory.getLogger(CoordinateWorkflow.class);

        private final int reduceBudget;
        private ProcessorContext<String, SpecificRecord> context;
        private KeyValueStore<String, ?> specs;
        private KeyValueStore<String, WorkflowProgress> progress;
        private KeyValueStore<String, MapOutcome> mapOutcomes;

        CoordinateWorkflow(int reduceBudget) {
            this.reduceBudget = reduceBudget;
        }

        @Override
        public void init(ProcessorContext<String, SpecificRecord> context) {
            this.context = context;
            this.specs = Routing.store(context, SPECS_STORE);
            this.progress = context.getStateStore(PROGRESS_STORE);
            this.mapOutcomes = context.getStateStore(OUTCOMES_STORE);
        }

        @Override
        public void process(Record<String, AgentResult> record) {
            AgentResult result = record.value();
            BatchSpec spec = Routing.lookup(specs, result.getBatchId());
            if (spec == null || spec.getWorkflow() == null) {
                return;
            }
            WorkflowStage stage = spec.getWorkflow();
            WorkflowProgress state = progress.get(stage.getWorkflowId());
            if (state == null) {
                state = WorkflowProgress.newBuilder()
                        .setWorkflowId(stage.getWorkflowId())
                        .setOutcomes(new HashMap<>())
                        .build();
            }
            moveInlineOutcomes(stage, state);
            switch (stage.getStage()) {
                case PLAN -> fanOutPlan(stage, state, result);
                case MAP -> recordMapOutcome(stage, state, result);
                case REDUCE -> {}
            }
            progress.put(stage.getWorkflowId(), state);
        }

        private void fanOutPlan(WorkflowStage stage, WorkflowProgress state, AgentResult plan) {
            if (state.getExpected() >= 0) {
                return; // fanned out already: a replayed plan result
            }
            long now = context.currentSystemTimeMs();
            if (plan.getStatus() != JobStatus.SUCCEEDED) {
                failWorkflow(
                        stage,
                        state,
                        "the plan failed: "
                                + (plan.getError() == null
                                        ? plan.getStatus()
                                        : plan.getError().getReason() + ": "
                                                + plan.getError().getMessage()),
                        now);
                return;
            }
            JsonNode items = ReduceInput.parse(plan.getOutputJson()).path(stage.getItemsField());
            if (!items.isArray()) {
                failWorkflow(
                        stage,
                        state,
                        "the plan's output has no array '" + stage.getItemsField() + "' to map over",
                        now);
                return;
            }
            state.setExpected(items.size());
            for (int i = 0; i < items.size(); i++) {
                ObjectNode input = JSON.createObjectNode();
                input.set(stage.getItemVariable(), items.get(i));
                String jobId = jobId(stage.getMapBatchId(), i);
                context.forward(new Record<>(
                        jobId,
                        (SpecificRecord) new AgentJob(jobId, stage.getMapBatchId(), (long) i, input.toString(), now, 1),
                        now));
            }
            LOGGER.info("workflow fanned out: workflowId={} mapJobs={}", stage.getWorkflowId(), items.size());
            submitReduceIfComplete(stage, state, now);
        }

        private void recordMapOutcome(WorkflowStage stage, WorkflowProgress state, AgentResult result) {
            long index = mapIndex(stage, result);
            if (index < 0) {
                LOGGER.warn(
                        "map result of an unknown map job ignored: workflowId={} jobId={}",
                        stage.getWorkflowId(),
                        result.getJobId());
                return;
            }
            String error = result.getError() == null
                    ? null
                    : result.getError().getReason() + ": " + result.getError().getMessage();
            keep(stage, state, new MapOutcome(index, result.getStatus().name(), result.getOutputJson(), error));
            submitReduceIfComplete(stage, state, context.currentSystemTimeMs());
        }

        /** Stores one map job's outcome (the latest wins) and keeps the counts right. */
        private void keep(WorkflowStage stage, WorkflowProgress state, MapOutcome outcome) {
            String key = outcomeKey(stage.getWorkflowId(), outcome.getIndex());
            MapOutcome previous = mapOutcomes.get(key);
            if (previous == null) {
                state.setReceived(state.getReceived() + 1);
            } else if (succeeded(previous)) {
                state.setSucceeded(state.getSucceeded() - 1);
            }
            if (succeeded(outcome)) {
                state.setSucceeded(state.getSucceeded() + 1);
            }
            mapOutcomes.put(key, outcome);
        }

        /** Earlier versions kept the outcomes inline in the progress value: move them to their own entries. */
        private void moveInlineOutcomes(WorkflowStage stage, WorkflowProgress state) {
            if (state.getOutcomes().isEmpty()) {
                return;
            }
            state.getOutcomes().values().forEach(outcome -> keep(stage, state, outcome));
            state.setOutcomes(new HashMap<>());
        }

        /** The map job's index: from the result, or (for a result written without one) from its job id. */
        private static long mapIndex(WorkflowStage stage, AgentResult result) {
            if (result.getIndex() >= 0) {
                return result.getIndex();
            }
            String prefix = stage.getMapBatchId() + "-";
            String jobId = result.getJobId();
            if (jobId.startsWith(prefix)) {
                try {
                    return Long.parseLong(jobId.substring(prefix.length()));
                } catch (NumberFormatException e) {
                    return -1;
                }
            }
            return -1;
        }

        private void submitReduceIfComplete(WorkflowStage stage, WorkflowProgress state, long now) {
            if (state.getReduceSubmitted() || state.getExpected() < 0 || state.getReceived() < state.getExpected()) {
                return;
            }
            String prefix = stage.getWorkflowId() + "/";
            String input = ReduceInput.build(
                    action -> {
                        try (KeyValueIterator<String, MapOutcome> it =
                                mapOutcomes.prefixScan(prefix, new StringSerializer())) {
                            while (it.hasNext()) {
                                KeyValue<String, MapOutcome> entry = it.next();
                                // A workflow whose id starts with this one's and a '/' shares the prefix: its keys have
                                // more after it.
                                if (entry.key.length() == prefix.length() + INDEX_DIGITS) {
                                    action.accept(entry.value);
                                }
                            }
                        }
                    },
                    reduceBudget);
            String jobId = reduceJobId(stage.getReduceBatchId());
            context.forward(new Record<>(
                    jobId, (SpecificRecord) new AgentJob(jobId, stage.getReduceBatchId(), 0L, input, now, 1), now));
            state.setReduceSubmitted(true);
            LOGGER.info(
                    "workflow reduce submitted: workflowId={} succeeded={} failed={} inputBytes={}",
                    stage.getWorkflowId(),
                    state.getSucceeded(),
                    state.getReceived() - state.getSucceeded(),
                    input.length());
        }

        private void failWorkflow(WorkflowStage stage, WorkflowProgress state, String why, long now) {
            state.setExpected(0);
            state.setReduceSubmitted(true);
            String jobId = reduceJobId(stage.getReduceBatchId());
            AgentResult failed = Outcomes.failed(
                    jobId,
                    stage.getReduceBatchId(),
                    0,
                    ErrorReason.OTHER,
                    "workflow '" + stage.getWorkflowId() + "' cannot reduce: " + why,
                    now,
                    now);
            context.forward(new Record<>(jobId, (SpecificRecord) failed, now));
        }

        private static boolean succeeded(MapOutcome outcome) {
            return JobStatus.SUCCEEDED.name().equals(outcome.getStatus());
        }
    }

    /** Sorts by index within a workflow: the index is zero-padded. */
    static String outcomeKey(String workflowId, long index) {
        return workflowId + "/" + String.format("%0" + INDEX_DIGITS + "d", index);
    }
}
