package io.batchagent.opencode;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobError;
import io.batchagent.events.JobStatus;
import io.batchagent.events.Timings;
import io.batchagent.events.Usage;
import io.batchagent.events.WarmUpStatus;
import io.batchagent.gateway.Gateway;
import io.batchagent.gateway.JobUsage;
import io.batchagent.inference.BatchSpecCache;
import io.batchagent.inference.WarmUpReport;
import io.batchagent.schemas.ProducerSettings;
import io.batchagent.worker.GroupSettings;
import io.batchagent.worker.InFlightConsumer;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The OpenCode stage: consumes {@code opencode-jobs} and runs each job as an OpenCode session, publishing
 * its {@link AgentResult} on {@code results}.
 *
 * <p>Guarantees:
 * <ul>
 *   <li>At most {@link OpenCodeSettings#maxSessions()} jobs in processing at once ({@link InFlightConsumer});
 *       the model calls of all sessions together are bounded by the {@link Gateway}.
 *   <li>Before a batch's first session, its prefix is warmed once through the gateway
 *       ({@link OpenCodeRuntime#warmUp(String)}); the outcome is stamped on the batch's results. The batch
 *       option {@value #WARM_UP_OPTION}{@code =false} turns that off.
 *   <li>The job's message is the batch's task template filled from the job's input; the batch option
 *       {@value #WORKSPACE_OPTION} (a template too, e.g. {@code /data/repos/{repo}}) names a directory copied
 *       into the job's workspace.
 *   <li>A batch's {@code deadlineMs} bounds each session (counted from submission); a cancelled batch starts
 *       no session and stops its running ones (checked every second): their jobs end CANCELLED.
 *   <li>At-least-once: offsets are committed only below jobs whose result was acknowledged, so a crash
 *       repeats at most the sessions that were running. Undecodable records go to {@code dead-letters}.
 *   <li>Each result carries the session's answer and transcript ({@link SessionResult#output()}), and its
 *       usage as the gateway measured it: prompt, cached and completion tokens, model calls, time to first
 *       token, queueing and engine time.
 * </ul>
 *
 * <p>The runtime and gateway are not owned. {@link #start()} once; {@link #close()} from any thread.
 */
public final class OpenCodeWorker implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(OpenCodeWorker.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    public static final String DEFAULT_GROUP_ID = "batchagent-opencode";
    /** Batch option: a directory template whose files are copied into each job's workspace. */
    public static final String WORKSPACE_OPTION = "opencode.workspace";
    /** Batch option: {@code false} skips the warm-up session. */
    public static final String WARM_UP_OPTION = "opencode.warm_up";

    static final String STAGE = "opencode-worker";
    private static final Duration SPEC_WAIT = Duration.ofSeconds(30);

    private final OpenCodeTopics topics;
    private final OpenCodeRuntime runtime;
    private final Gateway gateway;
    private final BatchSpecCache specs;
    private final Producer<String, byte[]> producer;
    private final InFlightConsumer<String, byte[]> loop;
    private final Deserializer<AgentJob> jobs;
    private final Serializer<AgentResult> results;
    private final Serializer<DeadLetter> deadLetters;
    private final ScheduledExecutorService cancelWatch;
    private final Map<String, String> runningBatches = new ConcurrentHashMap<>();
    private final AtomicLong published = new AtomicLong();

    /**
     * @param kafkaConfig client settings (bootstrap.servers, security...); the worker sets its group id,
     *     manual commits, read_committed, an idempotent producer with acks=all, and the serializers
     * @param groupId the consumer group of OpenCode workers; {@link #DEFAULT_GROUP_ID} when null
     */
    public OpenCodeWorker(
            Map<String, Object> kafkaConfig,
            OpenCodeTopics topics,
            OpenCodeRuntime runtime,
            Gateway gateway,
            String groupId) {
        this.topics = topics;
        this.runtime = runtime;
        this.gateway = gateway;
        this.jobs = topics.jobs().valueSerde().deserializer();
        this.results = topics.catalogue().results().valueSerde().serializer();
        this.deadLetters = topics.catalogue().deadLetters().valueSerde().serializer();
        this.specs = new BatchSpecCache(kafkaConfig, topics.catalogue(), SPEC_WAIT);
        Map<String, Object> consumer = new HashMap<>(kafkaConfig);
        consumer.put(ConsumerConfig.GROUP_ID_CONFIG, groupId == null ? DEFAULT_GROUP_ID : groupId);
        consumer.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        consumer.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        consumer.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        // A session may run for many minutes; the loop keeps polling, so only the poll interval matters.
        Map<String, Object> producerConfig =
                ProducerSettings.durable(kafkaConfig, topics.catalogue().limits());
        this.producer = new KafkaProducer<>(producerConfig, new StringSerializer(), new ByteArraySerializer());
        this.loop = new InFlightConsumer<>(
                new KafkaConsumer<>(
                        GroupSettings.incrementalRebalancing(consumer),
                        new StringDeserializer(),
                        new ByteArrayDeserializer()),
                List.of(topics.jobs().name()),
                this::handle,
                InFlightConsumer.Options.<String, byte[]>of(
                        STAGE, runtime.settings().maxSessions()));
        this.cancelWatch = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, STAGE + "-cancel-watch");
            thread.setDaemon(true);
            return thread;
        });
    }

    /** Starts the spec cache, the consumer loop and the cancellation watch. */
    public void start() {
        specs.start();
        loop.start();
        cancelWatch.scheduleWithFixedDelay(this::stopCancelledSessions, 1, 1, TimeUnit.SECONDS);
        LOGGER.info(
                "OpenCode worker started: topic={} maxSessions={} isolation={}",
                topics.jobs().name(),
                runtime.settings().maxSessions(),
                runtime.isolation());
    }

    /** Results this worker published. */
    public long published() {
        return published.get();
    }

    private CompletableFuture<Void> handle(ConsumerRecord<String, byte[]> record) {
        AgentJob job;
        try {
            job = jobs.deserialize(record.topic(), record.value());
            if (job == null) {
                throw new IllegalArgumentException("an empty record");
            }
        } catch (RuntimeException e) {
            return deadLetter(record, "undecodable OpenCode job: " + e.getMessage(), e);
        }
        long receivedAt = System.currentTimeMillis();
        return specs.get(job.getBatchId())
                .thenCompose(spec -> run(job, spec, receivedAt))
                .exceptionally(error -> failedResult(
                        job,
                        null,
                        ErrorReason.UNKNOWN_BATCH,
                        "the batch " + job.getBatchId() + " is not known: " + error.getMessage(),
                        null))
                .thenCompose(this::publish);
    }

    private CompletableFuture<AgentResult> run(AgentJob job, BatchSpec spec, long receivedAt) {
        if (spec.getCancelled()) {
            return CompletableFuture.completedFuture(
                    failedResult(job, null, ErrorReason.CANCELLED, "the batch was cancelled", null));
        }
        Optional<Duration> deadline = Optional.empty();
        if (spec.getDeadlineMs() > 0) {
            long left = job.getSubmittedAtMs() + spec.getDeadlineMs() - receivedAt;
            if (left <= 0) {
                return CompletableFuture.completedFuture(failedResult(
                        job,
                        null,
                        ErrorReason.TIMEOUT,
                        "the job's deadline of " + spec.getDeadlineMs() + " ms passed before its session started",
                        null));
            }
            deadline = Optional.of(Duration.ofMillis(left));
        }
        OpenCodeJob session;
        try {
            JsonNode input = JSON.readTree(job.getInputJson());
            if (input == null || !input.isObject()) {
                throw new IllegalArgumentException("the job's input is not a JSON object");
            }
            String message = JobTemplate.render(spec.getTaskTemplate(), input);
            String workspace = spec.getOptions().get(WORKSPACE_OPTION);
            session = new OpenCodeJob(
                    job.getJobId(),
                    job.getBatchId(),
                    message,
                    workspace == null ? Optional.empty() : Optional.of(Path.of(JobTemplate.render(workspace, input))),
                    deadline);
        } catch (JobTemplate.MissingVariable e) {
            return CompletableFuture.completedFuture(
                    failedResult(job, null, ErrorReason.MISSING_TEMPLATE_VARIABLE, e.getMessage(), null));
        } catch (java.io.IOException | RuntimeException e) {
            return CompletableFuture.completedFuture(failedResult(
                    job, null, ErrorReason.INVALID_INPUT, "the job's input cannot be used: " + e.getMessage(), null));
        }
        CompletableFuture<WarmUpReport> warmUp =
                "false".equalsIgnoreCase(spec.getOptions().get(WARM_UP_OPTION))
                        ? CompletableFuture.completedFuture(null)
                        : runtime.warmUp(job.getBatchId());
        return warmUp.thenCompose(report -> {
            runningBatches.put(job.getJobId(), job.getBatchId());
            return runtime.submit(session)
                    .whenComplete((result, error) -> runningBatches.remove(job.getJobId()))
                    .thenApply(result -> toResult(job, result, report));
        });
    }

    private void stopCancelledSessions() {
        runningBatches.forEach((jobId, batchId) -> specs.current(batchId).ifPresent(spec -> {
            if (spec.getCancelled() && runtime.cancel(jobId)) {
                LOGGER.info("OpenCode session stopped, its batch was cancelled: jobId={} batchId={}", jobId, batchId);
            }
        }));
    }

    private AgentResult toResult(AgentJob job, SessionResult session, WarmUpReport warmUp) {
        JobUsage usage = session.usage().orElse(null);
        AgentResult.Builder result = AgentResult.newBuilder()
                .setJobId(job.getJobId())
                .setBatchId(job.getBatchId())
                .setIndex(job.getIndex())
                .setStatus(session.status())
                .setOutputJson(session.output().toString())
                .setError(
                        session.errorReason() == null
                                ? null
                                : JobError.newBuilder()
                                        .setReason(session.errorReason())
                                        .setMessage(session.errorMessage())
                                        .build())
                .setTurns(usage == null ? 0 : usage.modelCalls())
                .setUsage(usage(usage))
                .setTimings(Timings.newBuilder()
                        .setQueuedMs(usage == null ? 0 : usage.queuedMs())
                        .setFirstTokenMs(
                                usage == null || usage.firstTokenMs().isEmpty()
                                        ? null
                                        : usage.firstTokenMs().getAsLong())
                        .setModelMs(usage == null ? 0 : usage.modelMs())
                        .setToolWaitMs(Math.max(
                                0, session.wallMs() - (usage == null ? 0 : usage.modelMs() + usage.queuedMs())))
                        .setTotalMs(Math.max(0, System.currentTimeMillis() - job.getSubmittedAtMs()))
                        .build())
                .setToolCallsRequested(session.output().path("toolCalls").asInt(0))
                .setFinishedAtMs(System.currentTimeMillis())
                .setWarmUp(
                        warmUp == null
                                ? null
                                : WarmUpStatus.newBuilder()
                                        .setOutcome(warmUp.outcome())
                                        .setDetail(warmUp.detail())
                                        .build());
        return result.build();
    }

    private AgentResult failedResult(
            AgentJob job, JobUsage usage, ErrorReason reason, String message, WarmUpReport warmUp) {
        return AgentResult.newBuilder()
                .setJobId(job.getJobId())
                .setBatchId(job.getBatchId())
                .setIndex(job.getIndex())
                .setStatus(reason == ErrorReason.CANCELLED ? JobStatus.CANCELLED : JobStatus.FAILED)
                .setError(JobError.newBuilder()
                        .setReason(reason)
                        .setMessage(message)
                        .build())
                .setTurns(0)
                .setUsage(usage(usage))
                .setTimings(Timings.newBuilder()
                        .setTotalMs(Math.max(0, System.currentTimeMillis() - job.getSubmittedAtMs()))
                        .build())
                .setFinishedAtMs(System.currentTimeMillis())
                .setWarmUp(
                        warmUp == null
                                ? null
                                : WarmUpStatus.newBuilder()
                                        .setOutcome(warmUp.outcome())
                                        .setDetail(warmUp.detail())
                                        .build())
                .build();
    }

    private static Usage usage(JobUsage usage) {
        return usage == null
                ? Usage.newBuilder().build()
                : Usage.newBuilder()
                        .setPromptTokens(usage.promptTokens())
                        .setCachedPromptTokens(usage.cachedPromptTokens())
                        .setCompletionTokens(usage.completionTokens())
                        .setModelCalls(usage.modelCalls())
                        .build();
    }

    private CompletableFuture<Void> publish(AgentResult result) {
        CompletableFuture<Void> acked = new CompletableFuture<>();
        String topic = topics.catalogue().results().name();
        producer.send(
                new ProducerRecord<>(topic, result.getJobId(), results.serialize(topic, result)), (metadata, error) -> {
                    if (error != null) {
                        acked.completeExceptionally(error);
                        return;
                    }
                    published.incrementAndGet();
                    gateway.forget(result.getJobId());
                    LOGGER.info(
                            "OpenCode job finished: jobId={} status={} modelCalls={}",
                            result.getJobId(),
                            result.getStatus(),
                            result.getUsage().getModelCalls());
                    acked.complete(null);
                });
        return acked;
    }

    private CompletableFuture<Void> deadLetter(ConsumerRecord<String, byte[]> record, String reason, Exception cause) {
        LOGGER.warn(
                "record sent to dead-letters: topic={} partition={} offset={} reason={}",
                record.topic(),
                record.partition(),
                record.offset(),
                reason);
        DeadLetter letter = DeadLetter.newBuilder()
                .setStage(STAGE)
                .setTopic(record.topic())
                .setPartition(record.partition())
                .setOffset(record.offset())
                .setKey(
                        record.key() == null
                                ? null
                                : ByteBuffer.wrap(record.key().getBytes(java.nio.charset.StandardCharsets.UTF_8)))
                .setValue(record.value() == null ? null : ByteBuffer.wrap(record.value()))
                .setReason(reason)
                .setExceptionClass(cause.getClass().getName())
                .setRecordedAtMs(System.currentTimeMillis())
                .build();
        CompletableFuture<Void> acked = new CompletableFuture<>();
        String topic = topics.catalogue().deadLetters().name();
        producer.send(
                new ProducerRecord<>(topic, record.key(), deadLetters.serialize(topic, letter)), (metadata, error) -> {
                    if (error != null) {
                        acked.completeExceptionally(error);
                    } else {
                        acked.complete(null);
                    }
                });
        return acked;
    }

    /** Stops consuming, then the cancellation watch and the spec cache; running sessions are the runtime's to end. */
    @Override
    public void close() {
        loop.close();
        cancelWatch.shutdownNow();
        producer.close(Duration.ofSeconds(5));
        specs.close();
    }
}
