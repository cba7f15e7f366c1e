package io.batchagent.client;

import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.StageKind;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.WorkflowStage;
import io.batchagent.schemas.CallHash;
import io.batchagent.schemas.JobHeaders;
import io.batchagent.schemas.JobIds;
import io.batchagent.schemas.ProducerSettings;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Submits batches to the pipeline and collects their results, through Kafka only: this is all a
 * producer of work needs, wherever the stages run.
 *
 * <p>Submission is resumable: a job that already has a final result, or that is already on the jobs
 * topic, is not submitted again, so rerunning a batch id continues it.
 */
public final class BatchClient {

    private static final Logger LOGGER = LoggerFactory.getLogger(BatchClient.class);

    /**
     * What a submission did.
     *
     * @param attempts for each job resubmitted by {@code retryFailed}, its new attempt: only a final
     *     result of that attempt (or a later one) ends the job for {@link #await(Submission, Consumer, Duration)};
     *     jobs not listed accept any result
     */
    public record Submission(
            String batchId,
            List<String> jobIds,
            int alreadyFinished,
            int alreadySubmitted,
            int submitted,
            Map<String, Integer> attempts) {
        public Submission {
            jobIds = List.copyOf(jobIds);
            attempts = Map.copyOf(attempts);
        }
    }

    private final Map<String, Object> kafkaConfig;
    private final Topics topics;

    public BatchClient(Map<String, Object> kafkaConfig, Topics topics) {
        this.kafkaConfig = Map.copyOf(kafkaConfig);
        this.topics = topics;
    }

    /** The Kafka client settings this client uses (for a caller that follows other topics of a batch). */
    public Map<String, Object> kafkaConfig() {
        return kafkaConfig;
    }

    /** The topics this client submits to and reads from. */
    public Topics topics() {
        return topics;
    }

    /**
     * The job id of input {@code index} of a batch: the batch id, the index and a fingerprint of the
     * input, so that after an input changes, a rerun does not take the old input's result for it.
     */
    public static String jobId(String batchId, long index, String inputJson) {
        String fingerprint =
                CallHash.ofCanonical("input", canonicalOrRaw(inputJson)).substring(0, 8);
        return String.format("%s-%06d-%s", batchId, index, fingerprint);
    }

    private static String canonicalOrRaw(String json) {
        try {
            return CallHash.canonicalJson(json);
        } catch (IllegalArgumentException e) {
            return json;
        }
    }

    /** Publishes the batch spec and every job of the batch that is neither finished nor already submitted. */
    public Submission submit(String batchId, BatchDefinition definition) {
        return submit(batchId, definition, false);
    }

    /**
     * Publishes the batch spec and every job of the batch that is neither finished nor already
     * submitted; with {@code retryFailed}, jobs whose final result is FAILED or CANCELLED run again,
     * as a new attempt (the highest attempt seen for the job, plus one), so that every stage drops
     * what is left of the earlier attempt and {@link #await(Submission, Consumer, Duration)} waits for
     * the new attempt's result, not the old one.
     */
    public Submission submit(String batchId, BatchDefinition definition, boolean retryFailed) {
        return submit(batchId, definition, retryFailed, definition.toSpec(batchId, System.currentTimeMillis()));
    }

    /** As {@link #submit(String, BatchDefinition, boolean)}, publishing {@code spec} as the batch's spec. */
    public Submission submit(String batchId, BatchDefinition definition, boolean retryFailed, BatchSpec spec) {
        requireTopics(topics.batchSpecs().name(), topics.agentJobs().name());
        // Only a batch whose spec was published before can have jobs or results to resume: a new
        // batch skips reading the (large) jobs and results topics.
        boolean seenBefore = latestSpec(batchId) != null;
        Map<String, AgentResult> previous = seenBefore ? finalResults(batchId) : Map.of();
        Set<String> finished = new HashSet<>();
        previous.forEach((jobId, result) -> {
            if (!retryFailed || result.getStatus() == io.batchagent.events.JobStatus.SUCCEEDED) {
                finished.add(jobId);
            }
        });
        Set<String> retried = new HashSet<>(previous.keySet());
        retried.removeAll(finished);
        Map<String, Integer> submittedAttempts = new HashMap<>();
        if (seenBefore) {
            scan(topics.agentJobs().name(), record -> {
                AgentJob job = decode(topics.agentJobs(), record);
                if (job != null && batchId.equals(job.getBatchId())) {
                    submittedAttempts.merge(job.getJobId(), job.getAttempt(), Math::max);
                }
            });
        }
        Set<String> submitted = submittedAttempts.keySet();
        Map<String, Integer> attempts = new HashMap<>();
        List<String> jobIds = new ArrayList<>();
        long now = System.currentTimeMillis();
        int sent = 0;
        try (KafkaProducer<byte[], byte[]> producer = producer()) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            acks.add(send(producer, topics.batchSpecs(), batchId, spec));
            for (int i = 0; i < definition.inputs().size(); i++) {
                String jobId = jobId(batchId, i, definition.inputs().get(i));
                jobIds.add(jobId);
                if (finished.contains(jobId) || (submitted.contains(jobId) && !retried.contains(jobId))) {
                    continue;
                }
                int attempt = 1;
                if (retried.contains(jobId)) {
                    attempt = Math.max(previous.get(jobId).getAttempt(), submittedAttempts.getOrDefault(jobId, 1)) + 1;
                    attempts.put(jobId, attempt);
                }
                acks.add(send(
                        producer,
                        topics.agentJobs(),
                        jobId,
                        new AgentJob(
                                jobId, batchId, (long) i, definition.inputs().get(i), now, attempt)));
                sent++;
            }
            producer.flush();
            for (Future<RecordMetadata> ack : acks) {
                ack.get(60, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while submitting batch " + batchId, e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot submit batch " + batchId + ": " + e.getMessage(), e);
        }
        int alreadySubmitted = (int) jobIds.stream()
                .filter(id -> submitted.contains(id) && !finished.contains(id) && !retried.contains(id))
                .count();
        int alreadyFinished = (int) jobIds.stream().filter(finished::contains).count();
        LOGGER.info(
                "submitted batch {}: {} new jobs ({} of them retried), {} in progress, {} finished",
                batchId,
                sent,
                attempts.size(),
                alreadySubmitted,
                alreadyFinished);
        return new Submission(batchId, jobIds, alreadyFinished, alreadySubmitted, sent, attempts);
    }

    /** The batches and jobs of a submitted plan -> map -> reduce workflow. */
    public record Workflow(
            String workflowId,
            String planBatchId,
            String mapBatchId,
            String reduceBatchId,
            List<String> planJobIds,
            String reduceJobId) {}

    /**
     * Submits a plan -> map -> reduce workflow: the map and reduce specs, then the plan batch; the
     * workflow coordinator does the rest (fan-out of the plan's {@code items}, the reduce job when
     * every map job is final).
     */
    public Workflow submitWorkflow(
            String workflowId, BatchDefinition plan, BatchDefinition map, BatchDefinition reduce) {
        String planBatch = workflowId + "-plan";
        String mapBatch = workflowId + "-map";
        String reduceBatch = workflowId + "-reduce";
        long now = System.currentTimeMillis();
        publishSpec(withStage(map.toSpec(mapBatch, now), workflowId, StageKind.MAP, mapBatch, reduceBatch));
        publishSpec(withStage(reduce.toSpec(reduceBatch, now), workflowId, StageKind.REDUCE, mapBatch, reduceBatch));
        BatchSpec planSpec = withStage(plan.toSpec(planBatch, now), workflowId, StageKind.PLAN, mapBatch, reduceBatch);
        Submission submission = submit(planBatch, plan, false, planSpec);
        return new Workflow(
                workflowId, planBatch, mapBatch, reduceBatch, submission.jobIds(), JobIds.reduceJob(reduceBatch));
    }

    private static BatchSpec withStage(
            BatchSpec spec, String workflowId, StageKind kind, String mapBatch, String reduceBatch) {
        spec.setWorkflow(new WorkflowStage(workflowId, kind, mapBatch, reduceBatch, "items", "item"));
        return spec;
    }

    /** Publishes a batch spec on its own (the stages of a workflow, whose jobs come from events). */
    public void publishSpec(BatchSpec spec) {
        try (KafkaProducer<byte[], byte[]> producer = producer()) {
            send(producer, topics.batchSpecs(), spec.getBatchId(), spec).get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while publishing batch " + spec.getBatchId(), e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot publish batch " + spec.getBatchId() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Cancels a batch: its spec is republished with {@code cancelled=true}, so no new turn of it
     * starts and its unfinished jobs end CANCELLED.
     *
     * @return false if no spec of that batch exists
     */
    public boolean cancel(String batchId) {
        BatchSpec latest = latestSpec(batchId);
        if (latest == null) {
            return false;
        }
        latest.setCancelled(true);
        try (KafkaProducer<byte[], byte[]> producer = producer()) {
            send(producer, topics.batchSpecs(), batchId, latest).get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while cancelling batch " + batchId, e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot cancel batch " + batchId + ": " + e.getMessage(), e);
        }
        LOGGER.info("cancelled batch {}", batchId);
        return true;
    }

    /** The latest spec of {@code batchId} on the (compacted) specs topic, or null. */
    private BatchSpec latestSpec(String batchId) {
        BatchSpec[] latest = new BatchSpec[1];
        scan(topics.batchSpecs().name(), record -> {
            BatchSpec spec = decode(topics.batchSpecs(), record);
            if (spec != null && batchId.equals(spec.getBatchId())) {
                latest[0] = spec;
            }
        });
        return latest[0];
    }

    /** Tool activity (requested, executed, coalesced, cache hits, errors, latency) of the given jobs. */
    public ToolActivity toolActivity(Collection<String> jobIds) {
        Set<String> wanted = new HashSet<>(jobIds);
        ToolActivity activity = new ToolActivity();
        scan(topics.toolResponses().name(), record -> {
            ToolResponse response = decode(topics.toolResponses(), record);
            if (response != null && wanted.contains(response.getJobId())) {
                activity.add(response);
            }
        });
        return activity;
    }

    /** Every job now on the jobs topic, in topic order per partition. */
    public List<AgentJob> jobs() {
        List<AgentJob> jobs = new ArrayList<>();
        scan(topics.agentJobs().name(), record -> {
            AgentJob job = decode(topics.agentJobs(), record);
            if (job != null) {
                jobs.add(job);
            }
        });
        return jobs;
    }

    /** The latest result of every job of {@code batchId} now on the results topic. */
    public Map<String, AgentResult> finalResults(String batchId) {
        Map<String, AgentResult> results = new HashMap<>();
        scan(topics.results().name(), record -> {
            AgentResult result = decode(topics.results(), record);
            if (result != null && batchId.equals(result.getBatchId())) {
                results.put(result.getJobId(), result);
            }
        });
        return results;
    }

    /**
     * Follows the results topic until every job of {@code submission} has a final result of the
     * attempt it was submitted as (a resubmitted job's old FAILED result does not count), calling
     * {@code onResult} once per job as that result arrives.
     *
     * @return the results in the order of the submission's job ids
     * @throws TimeoutException if some jobs have no such result within {@code timeout}
     */
    public List<AgentResult> await(Submission submission, Consumer<AgentResult> onResult, Duration timeout)
            throws TimeoutException {
        return await(submission.jobIds(), submission.attempts(), onResult, timeout, () -> false);
    }

    /**
     * Follows the results topic until every job of {@code jobIds} has a result, calling
     * {@code onResult} once per job as its first result arrives.
     *
     * @return the results in the order of {@code jobIds}
     * @throws TimeoutException if some jobs have no result within {@code timeout}
     */
    public List<AgentResult> await(Collection<String> jobIds, Consumer<AgentResult> onResult, Duration timeout)
            throws TimeoutException {
        return await(jobIds, Map.of(), onResult, timeout, () -> false);
    }

    /**
     * As {@link #await(Submission, Consumer, Duration)}, giving up as soon as {@code giveUp} says so
     * (asked between polls, at least every 100 ms).
     *
     * @throws CancellationException when {@code giveUp} said so; every result that arrived was passed on
     */
    public List<AgentResult> await(
            Submission submission, Consumer<AgentResult> onResult, Duration timeout, BooleanSupplier giveUp)
            throws TimeoutException {
        return await(submission.jobIds(), submission.attempts(), onResult, timeout, giveUp);
    }

    /** @param attempts the least attempt whose result counts, per job; absent = any */
    private List<AgentResult> await(
            Collection<String> jobIds,
            Map<String, Integer> attempts,
            Consumer<AgentResult> onResult,
            Duration timeout,
            BooleanSupplier giveUp)
            throws TimeoutException {
        Set<String> wanted = new HashSet<>(jobIds);
        Map<String, AgentResult> results = new TreeMap<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        try (KafkaConsumer<byte[], byte[]> consumer = consumer()) {
            List<TopicPartition> partitions =
                    partitions(consumer, topics.results().name());
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            while (results.size() < wanted.size()) {
                if (System.nanoTime() > deadline) {
                    throw new TimeoutException((wanted.size() - results.size()) + " of " + wanted.size()
                            + " jobs have no result after " + timeout.toSeconds() + " s");
                }
                if (giveUp.getAsBoolean()) {
                    throw new CancellationException("gave up waiting: " + (wanted.size() - results.size()) + " of "
                            + wanted.size() + " jobs have no result");
                }
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(100))) {
                    AgentResult result = decode(topics.results(), record);
                    if (result != null
                            && wanted.contains(result.getJobId())
                            && result.getAttempt() < attempts.getOrDefault(result.getJobId(), 1)) {
                        LOGGER.debug(
                                "skipping the result of an earlier attempt: jobId={} attempt={} awaitedAttempt={}",
                                result.getJobId(),
                                result.getAttempt(),
                                attempts.get(result.getJobId()));
                    } else if (result != null && wanted.contains(result.getJobId())) {
                        boolean first = !results.containsKey(result.getJobId());
                        results.put(result.getJobId(), result);
                        if (first) {
                            onResult.accept(result);
                        }
                    }
                }
            }
        }
        List<AgentResult> ordered = new ArrayList<>();
        for (String jobId : jobIds) {
            ordered.add(results.get(jobId));
        }
        return ordered;
    }

    /**
     * Follows the results of batch {@code batchId} from the start of the (compacted) results topic,
     * calling {@code onResult} once per job as its result arrives, and again for a job only when a later
     * attempt's result replaces it (a rerun with {@code retryFailed}).
     *
     * <p>Ends when every job the batch's spec announces has a result; for a spec that announces none (a
     * workflow stage, whose jobs come from events), once the topic's end as of the call is reached. With
     * {@code untilStopped} it ends only when {@code stop} says so or the timeout passes. Any result of a
     * job counts: right after a resubmission with {@code retryFailed} its earlier result still does, so
     * the submitter waits for the new attempts with {@link #await(Submission, Consumer, Duration)}.
     *
     * @return the latest result of every job seen, in input order
     * @throws IllegalArgumentException if no spec of that batch exists
     * @throws TimeoutException if the batch is not complete within {@code timeout} (never with {@code untilStopped})
     */
    public List<AgentResult> follow(
            String batchId,
            Consumer<AgentResult> onResult,
            boolean untilStopped,
            BooleanSupplier stop,
            Duration timeout)
            throws TimeoutException {
        BatchSpec spec = latestSpec(batchId);
        if (spec == null) {
            throw new IllegalArgumentException("no batch '" + batchId + "' on the cluster (no spec on "
                    + topics.batchSpecs().name() + "): check the batch id and --topic-prefix");
        }
        long expected = spec.getExpectedJobs();
        Map<String, AgentResult> latest = new HashMap<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        try (KafkaConsumer<byte[], byte[]> consumer = consumer()) {
            List<TopicPartition> partitions =
                    partitions(consumer, topics.results().name());
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            while (!stop.getAsBoolean()) {
                if (!untilStopped
                        && (expected > 0
                                ? latest.size() >= expected
                                : partitions.stream().allMatch(p -> consumer.position(p) >= end.get(p)))) {
                    break;
                }
                if (System.nanoTime() > deadline) {
                    if (untilStopped) {
                        break;
                    }
                    throw new TimeoutException((expected - latest.size()) + " of " + expected + " jobs of batch "
                            + batchId + " have no result after " + timeout.toSeconds() + " s");
                }
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(100))) {
                    AgentResult result = decode(topics.results(), record);
                    if (result == null || !batchId.equals(result.getBatchId())) {
                        continue;
                    }
                    AgentResult before = latest.get(result.getJobId());
                    if (before == null || result.getAttempt() > before.getAttempt()) {
                        latest.put(result.getJobId(), result);
                        onResult.accept(result);
                    }
                }
            }
        }
        List<AgentResult> ordered = new ArrayList<>(latest.values());
        ordered.sort(java.util.Comparator.comparingLong(AgentResult::getIndex));
        return ordered;
    }

    /**
     * Where batch {@code batchId} stands: counts by status, jobs in a model call or waiting on tools, tool
     * activity and the time of its newest record. Reads the batch's topics from their start, so it costs
     * a scan of each (jobs, turns, waits, tool responses, results); meant for an operator, not a loop.
     *
     * @throws IllegalArgumentException if no spec of that batch exists
     */
    public BatchStatus status(String batchId) {
        BatchSpec spec = latestSpec(batchId);
        if (spec == null) {
            throw new IllegalArgumentException("no batch '" + batchId + "' on the cluster (no spec on "
                    + topics.batchSpecs().name() + "): check the batch id and --topic-prefix");
        }
        long[] newest = new long[1];
        Set<String> submitted = new HashSet<>();
        scan(topics.agentJobs().name(), record -> {
            AgentJob job = decode(topics.agentJobs(), record);
            if (job != null && batchId.equals(job.getBatchId())) {
                submitted.add(job.getJobId());
                newest[0] = Math.max(newest[0], record.timestamp());
            }
        });
        Map<String, AgentResult> results = new HashMap<>();
        scan(topics.results().name(), record -> {
            AgentResult result = decode(topics.results(), record);
            if (result != null && batchId.equals(result.getBatchId())) {
                results.put(result.getJobId(), result);
                newest[0] = Math.max(newest[0], record.timestamp());
            }
        });
        // The latest turn event of each job: on a turns topic (a model call ahead) or on agent-waits.
        Map<String, long[]> latestTurn = new HashMap<>();
        for (Topics.Topic<String, io.batchagent.events.AgentTurn> topic :
                List.of(topics.agentTurns(), topics.agentContinuations(), topics.agentWaits())) {
            long waiting = topic == topics.agentWaits() ? 1 : 0;
            scan(topic.name(), record -> {
                io.batchagent.events.AgentTurn turn = decode(topic, record);
                if (turn != null && batchId.equals(turn.getBatchId())) {
                    newest[0] = Math.max(newest[0], record.timestamp());
                    long[] seen = latestTurn.get(turn.getJobId());
                    if (seen == null || record.timestamp() >= seen[0]) {
                        latestTurn.put(turn.getJobId(), new long[] {record.timestamp(), waiting});
                    }
                }
            });
        }
        latestTurn.keySet().removeAll(results.keySet());
        long waitingOnTools =
                latestTurn.values().stream().filter(t -> t[1] == 1).count();
        Set<String> jobIds = new HashSet<>(submitted);
        jobIds.addAll(results.keySet());
        ToolActivity activity = new ToolActivity();
        scan(topics.toolResponses().name(), record -> {
            ToolResponse response = decode(topics.toolResponses(), record);
            if (response != null && jobIds.contains(response.getJobId())) {
                activity.add(response);
                newest[0] = Math.max(newest[0], record.timestamp());
            }
        });
        Map<io.batchagent.events.JobStatus, Long> finished = new HashMap<>();
        results.values().forEach(r -> finished.merge(r.getStatus(), 1L, Long::sum));
        return new BatchStatus(
                batchId,
                spec.getExpectedJobs(),
                spec.getCancelled(),
                submitted.size(),
                finished,
                latestTurn.size() - waitingOnTools,
                waitingOnTools,
                activity.summary(),
                newest[0]);
    }

    private void scan(String topic, Consumer<ConsumerRecord<byte[], byte[]>> each) {
        try (KafkaConsumer<byte[], byte[]> consumer = consumer()) {
            List<TopicPartition> partitions = partitions(consumer, topic);
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
                consumer.poll(Duration.ofMillis(100)).forEach(each);
            }
        }
    }

    /**
     * Fails at once, saying what to do, if a topic is missing: the workers create the topics (the broker
     * creates none by itself), and a record for a missing topic would wait a minute and fail.
     */
    private void requireTopics(String... names) {
        try (KafkaConsumer<byte[], byte[]> consumer = consumer()) {
            for (String topic : names) {
                if (partitions(consumer, topic).isEmpty()) {
                    throw new IllegalStateException(
                            "topic " + topic + " does not exist on " + kafkaConfig.get("bootstrap.servers")
                                    + ": start the workers first (they create the topics), or check --topic-prefix");
                }
            }
        }
    }

    private static List<TopicPartition> partitions(KafkaConsumer<?, ?> consumer, String topic) {
        return consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                .map(p -> new TopicPartition(topic, p.partition()))
                .toList();
    }

    private <V> V decode(Topics.Topic<String, V> topic, ConsumerRecord<byte[], byte[]> record) {
        try {
            return topic.valueSerde().deserializer().deserialize(record.topic(), record.value());
        } catch (RuntimeException e) {
            LOGGER.warn(
                    "skipping an undecodable record: topic={} partition={} offset={} reason={}",
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    e.getMessage());
            return null;
        }
    }

    /** Sends {@code value} with {@link JobHeaders} naming its job and batch. */
    private <V> Future<RecordMetadata> send(
            KafkaProducer<byte[], byte[]> producer, Topics.Topic<String, V> topic, String key, V value) {
        Headers headers = JobHeaders.stamp(new RecordHeaders(), value);
        return producer.send(new ProducerRecord<>(
                topic.name(),
                null,
                topic.keySerde().serializer().serialize(topic.name(), key),
                topic.valueSerde().serializer().serialize(topic.name(), headers, value),
                headers));
    }

    private KafkaProducer<byte[], byte[]> producer() {
        Map<String, Object> props = ProducerSettings.durable(kafkaConfig, topics.limits());
        props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        return new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer());
    }

    private KafkaConsumer<byte[], byte[]> consumer() {
        Map<String, Object> props = new HashMap<>(kafkaConfig);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        return new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }
}
