package io.batchagent.bench.harness;

import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.BatchSpec;
import io.batchagent.schemas.ProducerSettings;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The benchmark's producer of work: publishes a batch spec and its jobs, and follows the results
 * topic from where it stood when the client was made, noting when each result arrived.
 *
 * <p>Unlike the CLI's {@code BatchClient} it does not scan the topics for finished jobs before submitting
 * (each benchmark run is a new batch on fresh topics), so the measured wall time is the pipeline's,
 * not the resume check's. The records are the same as the CLI's.
 */
public final class BenchClient implements AutoCloseable {

    /** A job's first final result and when this client saw it ({@link System#nanoTime()}). */
    public record Received(AgentResult result, long receivedNanos) {}

    private final Topics topics;
    private final KafkaProducer<byte[], byte[]> producer;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final Map<String, Received> received = new ConcurrentHashMap<>();
    private final List<Waiter> waiters = new CopyOnWriteArrayList<>();
    private final Thread poller;
    private volatile boolean running = true;

    public BenchClient(Map<String, Object> kafkaConfig, Topics topics) {
        this.topics = topics;
        // One request in flight, as the product's submit: the topics were created a moment before (KAFKA-15591).
        Map<String, Object> producerProps = ProducerSettings.durable(kafkaConfig, topics.limits());
        producerProps.put(ProducerConfig.LINGER_MS_CONFIG, 1);
        this.producer = new KafkaProducer<>(producerProps, new ByteArraySerializer(), new ByteArraySerializer());
        Map<String, Object> consumerProps = new HashMap<>(kafkaConfig);
        consumerProps.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        consumerProps.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        consumerProps.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 20);
        this.consumer = new KafkaConsumer<>(consumerProps, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> partitions =
                consumer.partitionsFor(topics.results().name(), Duration.ofSeconds(30)).stream()
                        .map(p -> new TopicPartition(p.topic(), p.partition()))
                        .toList();
        this.poller = new Thread(this::poll, "bench-results");
        this.poller.setDaemon(true);
        if (partitions.isEmpty()) {
            // A workload without a results topic (W4 runs only the coalescer and a tool worker): this client
            // only publishes, and a consumer with nothing assigned must not be polled.
            consumer.close();
            running = false;
            return;
        }
        consumer.assign(partitions);
        consumer.seekToEnd(partitions);
        partitions.forEach(consumer::position); // resolve now, so nothing produced after this is missed
        this.poller.start();
    }

    private void poll() {
        while (running) {
            for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(50))) {
                long now = System.nanoTime();
                AgentResult result =
                        topics.results().valueSerde().deserializer().deserialize(record.topic(), record.value());
                if (result != null && received.putIfAbsent(result.getJobId(), new Received(result, now)) == null) {
                    String jobId = result.getJobId();
                    waiters.forEach(waiter -> waiter.arrived(jobId));
                }
            }
        }
        consumer.close();
    }

    /**
     * Publishes {@code spec} and one job per input, and waits for the
     * broker's acknowledgements.
     *
     * @return the job ids, in input order
     */
    public List<String> submit(BatchSpec spec, List<String> inputs) {
        long now = System.currentTimeMillis();
        String batchId = spec.getBatchId();
        List<Future<RecordMetadata>> acks = new ArrayList<>();
        acks.add(send(topics.batchSpecs(), batchId, spec));
        List<String> jobIds = new ArrayList<>();
        for (int i = 0; i < inputs.size(); i++) {
            String jobId = jobId(batchId, i);
            jobIds.add(jobId);
            acks.add(send(topics.agentJobs(), jobId, new AgentJob(jobId, batchId, (long) i, inputs.get(i), now, 1)));
        }
        producer.flush();
        try {
            for (Future<RecordMetadata> ack : acks) {
                ack.get(60, TimeUnit.SECONDS);
            }
        } catch (Exception e) {
            throw new IllegalStateException("cannot submit batch " + batchId + ": " + e, e);
        }
        return jobIds;
    }

    /** The id of job {@code index} of a batch (the form BatchClient used when this was written). */
    public static String jobId(String batchId, long index) {
        return String.format("%s-%06d", batchId, index);
    }

    /** Waits until every job of {@code jobIds} has a result. */
    public Map<String, Received> await(Collection<String> jobIds, Duration timeout) throws TimeoutException {
        // Told of each result as it arrives, instead of looking every job up every few milliseconds: that scan was
        // 14% of the driver's CPU at 10,000 agents, taken from the cores the pipeline under test runs on.
        Waiter waiter = new Waiter(jobIds);
        waiters.add(waiter);
        try {
            jobIds.stream().filter(received::containsKey).forEach(waiter::arrived);
            if (!waiter.done.await(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                throw new TimeoutException(waiter.remaining.size() + " of " + jobIds.size()
                        + " jobs have no result after " + timeout.toSeconds() + " s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } finally {
            waiters.remove(waiter);
        }
        Map<String, Received> out = new HashMap<>();
        jobIds.forEach(id -> out.put(id, received.get(id)));
        return out;
    }

    /** One {@link #await} call: the jobs it still waits for. */
    private static final class Waiter {
        final Set<String> remaining = ConcurrentHashMap.newKeySet();
        final CountDownLatch done = new CountDownLatch(1);

        Waiter(Collection<String> jobIds) {
            remaining.addAll(jobIds);
            if (remaining.isEmpty()) {
                done.countDown();
            }
        }

        void arrived(String jobId) {
            if (remaining.remove(jobId) && remaining.isEmpty()) {
                done.countDown();
            }
        }
    }

    /** Publishes one record (key and value through the topic's serdes); the future completes on the broker's ack. */
    public <V> Future<RecordMetadata> send(Topics.Topic<String, V> topic, String key, V value) {
        return producer.send(new ProducerRecord<>(
                topic.name(),
                topic.keySerde().serializer().serialize(topic.name(), key),
                topic.valueSerde().serializer().serialize(topic.name(), value)));
    }

    @Override
    public void close() {
        running = false;
        try {
            poller.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        producer.close(Duration.ofSeconds(5));
    }
}
