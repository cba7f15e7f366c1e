package io.batchagent.topology;

import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.Role;
import io.batchagent.events.Timings;
import io.batchagent.schemas.TaskTemplate;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
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
 * The job compiler: {@code BatchSpec} + {@code AgentJob} -> the agent's first {@code AgentTurn}.
 *
 * <p>The turn carries only per-agent content: the task template filled from the job's input, as
 * the first user message. The shared prefix (system prompt, tools, schema) stays in the BatchSpec,
 * where the inference workers render it, byte-identical for every job of the batch.
 *
 * <p>A job whose batch is not known yet waits (in the {@value #AWAITING_STORE} store) for up to
 * the spec grace period, since a spec and its jobs may be produced together and the global table
 * can lag; after that it fails with UNKNOWN_BATCH naming the batch. A missing template variable
 * fails the job with MISSING_TEMPLATE_VARIABLE naming the variable; the rest of the batch goes on.
 * The first turn and any failure carry the job's attempt ({@code AgentJob.attempt}).
 */
public final class JobCompiler {

    public static final String SPECS_STORE = "job-compiler-batch-specs";
    public static final String AWAITING_STORE = "jobs-awaiting-spec";

    private JobCompiler() {}

    /**
     * @param specGrace how long a job waits for its batch's spec before it fails
     */
    public static Topology build(Topics topics, Duration specGrace) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.globalTable(
                topics.batchSpecs().name(),
                Consumed.with(Serdes.String(), topics.batchSpecs().valueSerde()).withName("job-compiler-specs-source"),
                Materialized.<String, BatchSpec, KeyValueStore<Bytes, byte[]>>as(SPECS_STORE)
                        .withKeySerde(Serdes.String())
                        .withValueSerde(topics.batchSpecs().valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(AWAITING_STORE), Serdes.String(), topics.serde(AgentJob.class)));

        KStream<String, SpecificRecord> outcomes = builder.stream(
                        topics.agentJobs().name(),
                        StrictValues.consumed(topics.agentJobs()).withName("agent-jobs-source"))
                .process(() -> new CompileJob(specGrace), Named.as("compile-job"), AWAITING_STORE);
        Routing.branchTo(
                Routing.branchTo(
                        Routing.split(outcomes, "job-compiler-route"),
                        "job-compiler",
                        AgentTurn.class,
                        topics.agentTurns()),
                "job-compiler",
                io.batchagent.events.AgentResult.class,
                topics.results());
        return builder.build();
    }

    static final class CompileJob implements Processor<String, AgentJob, String, SpecificRecord> {

        private static final Logger LOGGER = LoggerFactory.getLogger(CompileJob.class);

        private final Duration specGrace;
        private final Map<String, Object> templates = Routing.lru(256);
        private ProcessorContext<String, SpecificRecord> context;
        private KeyValueStore<String, ?> specs;
        private KeyValueStore<String, AgentJob> awaiting;

        CompileJob(Duration specGrace) {
            this.specGrace = specGrace;
        }

        @Override
        public void init(ProcessorContext<String, SpecificRecord> context) {
            this.context = context;
            this.specs = Routing.store(context, SPECS_STORE);
            this.awaiting = context.getStateStore(AWAITING_STORE);
            Duration every = Duration.ofMillis(Math.max(50, Math.min(1000, specGrace.toMillis() / 4)));
            context.schedule(every, PunctuationType.WALL_CLOCK_TIME, this::retryAwaitingJobs);
        }

        @Override
        public void process(Record<String, AgentJob> record) {
            AgentJob job = record.value();
            if (job == null) {
                return;
            }
            if (!compile(job)) {
                awaiting.put(job.getJobId(), job);
                LOGGER.debug("job waits for its batch spec: jobId={} batchId={}", job.getJobId(), job.getBatchId());
            }
        }

        /** Emits the job's first turn or its failure; false if the batch spec is not known yet. */
        private boolean compile(AgentJob job) {
            BatchSpec spec = Routing.lookup(specs, job.getBatchId());
            if (spec == null) {
                return false;
            }
            long now = context.currentSystemTimeMs();
            Object template = templates.computeIfAbsent(spec.getTaskTemplate(), JobCompiler::parseTemplate);
            if (template instanceof String invalid) {
                emit(
                        job.getJobId(),
                        Outcomes.failed(
                                job,
                                ErrorReason.INVALID_INPUT,
                                "the task template of batch '" + job.getBatchId() + "' is invalid: " + invalid,
                                now));
                return true;
            }
            if (spec.getCancelled()) {
                emit(
                        job.getJobId(),
                        Outcomes.cancelled(Outcomes.failed(
                                job,
                                ErrorReason.CANCELLED,
                                "batch '" + job.getBatchId() + "' was cancelled before this job started",
                                now)));
                return true;
            }
            try {
                String userMessage = ((TaskTemplate) template).render(job.getInputJson(), hoisted(spec));
                long estimate = PromptEstimate.tokens(spec, userMessage);
                if (spec.getContextTokens() > 0 && estimate > spec.getContextTokens() - spec.getMaxTokens()) {
                    emit(
                            job.getJobId(),
                            Outcomes.failed(
                                    job,
                                    ErrorReason.OVERSIZED,
                                    "the prompt is estimated at " + estimate + " tokens, over the model's context of "
                                            + spec.getContextTokens() + " tokens minus the " + spec.getMaxTokens()
                                            + " reserved for the answer; the engine was not called",
                                    now));
                    return true;
                }
                emit(job.getJobId(), firstTurn(job, userMessage, now));
            } catch (TaskTemplate.RenderException e) {
                ErrorReason reason =
                        e.missingVariable() ? ErrorReason.MISSING_TEMPLATE_VARIABLE : ErrorReason.INVALID_INPUT;
                emit(job.getJobId(), Outcomes.failed(job, reason, e.getMessage(), now));
            }
            return true;
        }

        private void retryAwaitingJobs(long now) {
            try (KeyValueIterator<String, AgentJob> it = awaiting.all()) {
                while (it.hasNext()) {
                    KeyValue<String, AgentJob> entry = it.next();
                    AgentJob job = entry.value;
                    if (compile(job)) {
                        awaiting.delete(entry.key);
                    } else if (now - job.getSubmittedAtMs() >= specGrace.toMillis()) {
                        awaiting.delete(entry.key);
                        emit(
                                job.getJobId(),
                                Outcomes.failed(
                                        job,
                                        ErrorReason.UNKNOWN_BATCH,
                                        "batch '" + job.getBatchId() + "' is not known: no BatchSpec "
                                                + "with this id arrived within " + specGrace.toMillis() + " ms",
                                        now));
                    }
                }
            }
        }

        private void emit(String jobId, SpecificRecord value) {
            context.forward(new Record<>(jobId, value, context.currentSystemTimeMs()));
        }
    }

    /** How a hoisted variable appears in the per-job message: a reference to its value in the prefix. */
    static Map<String, String> hoisted(BatchSpec spec) {
        Map<String, String> fixed = new java.util.HashMap<>();
        for (String variable : spec.getHoistedVariables()) {
            fixed.put(variable, "(the shared " + variable + " given in the system prompt)");
        }
        return fixed;
    }

    /** Returns the parsed template, or the reason it is invalid as a String. */
    private static Object parseTemplate(String template) {
        try {
            return TaskTemplate.parse(template);
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    static AgentTurn firstTurn(AgentJob job, String userMessage, long now) {
        return AgentTurn.newBuilder()
                .setJobId(job.getJobId())
                .setBatchId(job.getBatchId())
                .setIndex(job.getIndex())
                .setTurn(1)
                .setMessages(List.of(ChatMessage.newBuilder()
                        .setRole(Role.USER)
                        .setContent(userMessage)
                        .build()))
                .setUsage(Outcomes.emptyUsage())
                .setTimings(Timings.newBuilder().build())
                .setSubmittedAtMs(job.getSubmittedAtMs())
                .setEmittedAtMs(now)
                .setAttempt(job.getAttempt())
                .build();
    }
}
