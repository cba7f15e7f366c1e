package io.batchagent.topology;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.events.WorkflowStage;
import io.batchagent.events.state.MapOutcome;
import io.batchagent.events.state.WorkflowProgress;
import io.batchagent.schemas.Topics;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
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
 *   <li>each map job's final result is recorded (the latest per job, so replays change nothing);
 *   <li>when every map job is final, succeeded or failed, the reduce job is submitted once with all
 *       of them, failed ones marked, in input order.
 * </ul>
 *
 * <p>Results are re-keyed by workflow id (repartition topic {@value #REPARTITION}) so one task owns
 * each workflow's {@value #PROGRESS_STORE} state; with exactly-once processing the fan-out and the
 * reduce submission happen once across restarts.
 */
public final class WorkflowCoordinator {

    public static final String SPECS_STORE = "workflow-batch-specs";
    public static final String PROGRESS_STORE = "workflow-progress";
    public static final String REPARTITION = "results-by-workflow";

    private static final ObjectMapper JSON = new ObjectMapper();

    private WorkflowCoordinator() {}

    /** The job id of the reduce job of a workflow. */
    public static String reduceJobId(String reduceBatchId) {
        return jobId(reduceBatchId, 0);
    }

    /** Job ids as the batch client makes them. */
    public static String jobId(String batchId, long index) {
        return String.format("%s-%06d", batchId, index);
    }

    public static Topology build(Topics topics) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.globalTable(topics.batchSpecs().name(),
                Consumed.with(Serdes.String(), topics.batchSpecs().valueSerde()).withName("workflow-specs-source"),
                Materialized.<String, BatchSpec, KeyValueStore<Bytes, byte[]>>as(SPECS_STORE)
                        .withKeySerde(Serdes.String()).withValueSerde(topics.batchSpecs().valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(PROGRESS_STORE),
                Serdes.String(), topics.serde(WorkflowProgress.class)));

        KStream<String, SpecificRecord> outcomes = builder
                .stream(topics.results().name(),
                        Consumed.with(topics.results().keySerde(), topics.results().valueSerde()).withName("workflow-results-source"))
                .process(KeyByWorkflow::new, Named.as("key-by-workflow"))
                .repartition(Repartitioned.with(Serdes.String(), topics.results().valueSerde()).withName(REPARTITION))
                .process(CoordinateWorkflow::new, Named.as("coordinate-workflow"), PROGRESS_STORE);
        Routing.branchTo(Routing.branchTo(Routing.split(outcomes, "workflow-route"),
                "workflow", AgentJob.class, topics.agentJobs()),
                "workflow", AgentResult.class, topics.results());
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

        private ProcessorContext<String, SpecificRecord> context;
        private KeyValueStore<String, ?> specs;
        private KeyValueStore<String, WorkflowProgress> progress;

        @Override
        public void init(ProcessorContext<String, SpecificRecord> context) {
            this.context = context;
            this.specs = Routing.store(context, SPECS_STORE);
            this.progress = context.getStateStore(PROGRESS_STORE);
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
                state = WorkflowProgress.newBuilder().setWorkflowId(stage.getWorkflowId()).setOutcomes(new HashMap<>()).build();
            }
            switch (stage.getStage()) {
                case PLAN -> fanOutPlan(stage, state, result);
                case MAP -> recordMapOutcome(stage, state, result);
                case REDUCE -> { }
            }
            progress.put(stage.getWorkflowId(), state);
        }

        private void fanOutPlan(WorkflowStage stage, WorkflowProgress state, AgentResult plan) {
            if (state.getExpected() >= 0) {
                return; // fanned out already: a replayed plan result
            }
            long now = context.currentSystemTimeMs();
            if (plan.getStatus() != JobStatus.SUCCEEDED) {
                failWorkflow(stage, state, "the plan failed: " + (plan.getError() == null ? plan.getStatus()
                        : plan.getError().getReason() + ": " + plan.getError().getMessage()), now);
                return;
            }
            JsonNode items = parse(plan.getOutputJson()).path(stage.getItemsField());
            if (!items.isArray()) {
                failWorkflow(stage, state, "the plan's output has no array '" + stage.getItemsField() + "' to map over", now);
                return;
            }
            state.setExpected(items.size());
            for (int i = 0; i < items.size(); i++) {
                ObjectNode input = JSON.createObjectNode();
                input.set(stage.getItemVariable(), items.get(i));
                String jobId = jobId(stage.getMapBatchId(), i);
                context.forward(new Record<>(jobId, (SpecificRecord) new AgentJob(jobId, stage.getMapBatchId(), (long) i,
                        input.toString(), now, 1), now));
            }
            LOGGER.info("workflow fanned out: workflowId={} mapJobs={}", stage.getWorkflowId(), items.size());
            submitReduceIfComplete(stage, state, now);
        }

        private void recordMapOutcome(WorkflowStage stage, WorkflowProgress state, AgentResult result) {
            String error = result.getError() == null ? null : result.getError().getReason() + ": " + result.getError().getMessage();
            state.getOutcomes().put(result.getJobId(), new MapOutcome(result.getIndex(), result.getStatus().name(),
                    result.getOutputJson(), error));
            submitReduceIfComplete(stage, state, context.currentSystemTimeMs());
        }

        private void submitReduceIfComplete(WorkflowStage stage, WorkflowProgress state, long now) {
            if (state.getReduceSubmitted() || state.getExpected() < 0 || state.getOutcomes().size() < state.getExpected()) {
                return;
            }
            List<MapOutcome> ordered = new ArrayList<>(state.getOutcomes().values());
            ordered.sort(Comparator.comparingLong(MapOutcome::getIndex));
            ArrayNode results = JSON.createArrayNode();
            int succeeded = 0;
            for (MapOutcome outcome : ordered) {
                ObjectNode entry = results.addObject();
                entry.put("index", outcome.getIndex());
                entry.put("status", outcome.getStatus());
                boolean ok = JobStatus.SUCCEEDED.name().equals(outcome.getStatus());
                succeeded += ok ? 1 : 0;
                entry.set("output", outcome.getOutputJson() == null ? JSON.nullNode() : parse(outcome.getOutputJson()));
                if (outcome.getError() != null) {
                    entry.put("error", outcome.getError());
                }
            }
            ObjectNode input = JSON.createObjectNode();
            input.set("results", results);
            input.put("succeeded", succeeded);
            input.put("failed", ordered.size() - succeeded);
            String jobId = reduceJobId(stage.getReduceBatchId());
            context.forward(new Record<>(jobId, (SpecificRecord) new AgentJob(jobId, stage.getReduceBatchId(), 0L,
                    input.toString(), now, 1), now));
            state.setReduceSubmitted(true);
            LOGGER.info("workflow reduce submitted: workflowId={} succeeded={} failed={}", stage.getWorkflowId(),
                    succeeded, ordered.size() - succeeded);
        }

        private void failWorkflow(WorkflowStage stage, WorkflowProgress state, String why, long now) {
            state.setExpected(0);
            state.setReduceSubmitted(true);
            String jobId = reduceJobId(stage.getReduceBatchId());
            AgentResult failed = Outcomes.failed(jobId, stage.getReduceBatchId(), 0, ErrorReason.OTHER,
                    "workflow '" + stage.getWorkflowId() + "' cannot reduce: " + why, now, now);
            context.forward(new Record<>(jobId, (SpecificRecord) failed, now));
        }
    }

    private static JsonNode parse(String json) {
        if (json == null) {
            return JSON.nullNode();
        }
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            return JSON.getNodeFactory().textNode(json);
        }
    }
}
