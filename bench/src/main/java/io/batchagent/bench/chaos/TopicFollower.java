package io.batchagent.bench.chaos;

import io.batchagent.events.AgentResult;
import io.batchagent.events.DeadLetter;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads the results and dead-letter topics from the beginning while the campaign runs, keeping every
 * result record per job (not only the latest: two final records that disagree must show) and where
 * every dead letter came from. Survives broker restarts (the consumer reconnects). Thread-safe reads.
 */
final class TopicFollower implements AutoCloseable {

    /** What one result record said. */
    record Outcome(String status, String reason, String output, int attempt) {}

    private final Topics topics;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final Thread thread;
    private final Map<String, List<Outcome>> byJob = new HashMap<>();
    private final Set<String> deadLetterOrigins = new HashSet<>();
    private final Map<String, String> deadLetterReasons = new HashMap<>();
    private volatile boolean running = true;
    private volatile long undecodable;

    TopicFollower(Map<String, Object> kafkaConfig, Topics topics) {
        this.topics = topics;
        Map<String, Object> props = new HashMap<>(kafkaConfig);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        props.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 50);
        this.consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> partitions = new ArrayList<>();
        for (String topic :
                List.of(topics.results().name(), topics.deadLetters().name())) {
            consumer.partitionsFor(topic, Duration.ofSeconds(60))
                    .forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
        }
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        this.thread = new Thread(this::follow, "chaos-follower");
        thread.setDaemon(true);
        thread.start();
    }

    private void follow() {
        while (running) {
            try {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    take(record);
                }
            } catch (WakeupException e) {
                return;
            } catch (RuntimeException e) {
                // The broker is restarting: the next poll reconnects.
            }
        }
    }

    private void take(ConsumerRecord<byte[], byte[]> record) {
        if (record.value() == null) {
            return;
        }
        try {
            if (record.topic().equals(topics.results().name())) {
                AgentResult result =
                        topics.results().valueSerde().deserializer().deserialize(record.topic(), record.value());
                Outcome outcome = new Outcome(
                        result.getStatus().name(),
                        result.getError() == null
                                ? ""
                                : result.getError().getReason().name(),
                        result.getOutputJson() == null ? "" : result.getOutputJson(),
                        result.getAttempt());
                synchronized (this) {
                    byJob.computeIfAbsent(result.getJobId(), k -> new ArrayList<>())
                            .add(outcome);
                }
            } else {
                DeadLetter letter =
                        topics.deadLetters().valueSerde().deserializer().deserialize(record.topic(), record.value());
                String origin = letter.getTopic() + "/" + letter.getPartition() + "/" + letter.getOffset();
                synchronized (this) {
                    deadLetterOrigins.add(origin);
                    deadLetterReasons.put(origin, letter.getReason());
                }
            }
        } catch (RuntimeException e) {
            undecodable++; // fuzzed records written straight to results land here
        }
    }

    synchronized int jobsWithResult(Set<String> jobIds) {
        int n = 0;
        for (String jobId : jobIds) {
            if (byJob.containsKey(jobId)) {
                n++;
            }
        }
        return n;
    }

    synchronized Map<String, List<Outcome>> outcomes() {
        Map<String, List<Outcome>> copy = new HashMap<>();
        byJob.forEach((k, v) -> copy.put(k, List.copyOf(v)));
        return copy;
    }

    synchronized boolean deadLettered(String topic, int partition, long offset) {
        return deadLetterOrigins.contains(topic + "/" + partition + "/" + offset);
    }

    synchronized String deadLetterReason(String topic, int partition, long offset) {
        return deadLetterReasons.get(topic + "/" + partition + "/" + offset);
    }

    long undecodable() {
        return undecodable;
    }

    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        consumer.close();
    }
}
