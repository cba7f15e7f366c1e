package io.batchagent.opencode;

import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.BatchSpec;
import io.batchagent.schemas.CallHash;
import io.batchagent.schemas.ProducerSettings;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Submits OpenCode batches and collects their results, through Kafka only: the batch's spec on
 * {@code batch-specs}, its jobs on {@code opencode-jobs}, results read from {@code results}. Job ids are
 * those {@code BatchClient.jobId} gives (batch id, index, input fingerprint), so the CLI's resume and
 * collection work on OpenCode batches too.
 *
 * <p>Thread-safe; every call opens and closes its own clients.
 */
public final class OpenCodeJobs {

    private final Map<String, Object> kafkaConfig;
    private final OpenCodeTopics topics;

    public OpenCodeJobs(Map<String, Object> kafkaConfig, OpenCodeTopics topics) {
        this.kafkaConfig = Map.copyOf(kafkaConfig);
        this.topics = topics;
    }

    /** The job id of input {@code index} of a batch (the same as {@code BatchClient.jobId}). */
    public static String jobId(String batchId, long index, String inputJson) {
        String canonical;
        try {
            canonical = CallHash.canonicalJson(inputJson);
        } catch (IllegalArgumentException e) {
            canonical = inputJson;
        }
        return String.format(
                "%s-%06d-%s",
                batchId, index, CallHash.ofCanonical("input", canonical).substring(0, 8));
    }

    /**
     * Publishes {@code spec}, then one job per input (JSON objects of template variables), and waits for the
     * broker's acknowledgements. Returns the job ids in input order.
     */
    public List<String> submit(BatchSpec spec, List<String> inputsJson) {
        return submit(spec, inputsJson, Set.of());
    }

    /**
     * As {@link #submit(BatchSpec, List)}, but jobs whose id is in {@code skip} (for example those that
     * already have a SUCCEEDED result, when a batch is resumed) are not published again. Returns every job
     * id, skipped ones included, in input order.
     */
    public List<String> submit(BatchSpec spec, List<String> inputsJson, Set<String> skip) {
        String batchId = spec.getBatchId();
        List<String> ids = new ArrayList<>();
        Map<String, Object> config =
                ProducerSettings.durable(kafkaConfig, topics.catalogue().limits());
        try (KafkaProducer<String, byte[]> producer =
                new KafkaProducer<>(config, new StringSerializer(), new ByteArraySerializer())) {
            String specTopic = topics.catalogue().batchSpecs().name();
            List<Future<RecordMetadata>> sends = new ArrayList<>();
            sends.add(producer.send(new ProducerRecord<>(
                    specTopic,
                    batchId,
                    topics.catalogue().batchSpecs().valueSerde().serializer().serialize(specTopic, spec))));
            String jobTopic = topics.jobs().name();
            long now = System.currentTimeMillis();
            for (int i = 0; i < inputsJson.size(); i++) {
                String id = jobId(batchId, i, inputsJson.get(i));
                ids.add(id);
                if (skip.contains(id)) {
                    continue;
                }
                AgentJob job = AgentJob.newBuilder()
                        .setJobId(id)
                        .setBatchId(batchId)
                        .setIndex(i)
                        .setInputJson(inputsJson.get(i))
                        .setSubmittedAtMs(now)
                        .build();
                sends.add(producer.send(new ProducerRecord<>(
                        jobTopic, id, topics.jobs().valueSerde().serializer().serialize(jobTopic, job))));
            }
            for (Future<RecordMetadata> send : sends) {
                send.get(30, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while submitting batch " + batchId, e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot submit batch " + batchId + ": " + e.getMessage(), e);
        }
        return ids;
    }

    /**
     * The final result of each of {@code jobIds}, in their order, once all are on the results topic.
     *
     * @throws TimeoutException naming how many are missing, if they are not all there within {@code timeout}
     */
    public List<AgentResult> await(Collection<String> jobIds, Duration timeout) throws TimeoutException {
        Set<String> wanted = new LinkedHashSet<>(jobIds);
        Map<String, AgentResult> found = new HashMap<>();
        Map<String, Object> config = new HashMap<>(kafkaConfig);
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        String topic = topics.catalogue().results().name();
        Deserializer<AgentResult> results =
                topics.catalogue().results().valueSerde().deserializer();
        long deadline = System.nanoTime() + timeout.toNanos();
        try (KafkaConsumer<String, byte[]> consumer =
                new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                    .map(info -> new TopicPartition(topic, info.partition()))
                    .toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            while (!found.keySet().containsAll(wanted)) {
                if (System.nanoTime() > deadline) {
                    throw new TimeoutException((wanted.size() - found.size()) + " of " + wanted.size()
                            + " results missing after " + timeout.toMillis() + " ms");
                }
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    if (wanted.contains(record.key()) && record.value() != null) {
                        found.put(record.key(), results.deserialize(topic, record.value()));
                    }
                }
            }
        }
        return wanted.stream().map(found::get).toList();
    }
}
