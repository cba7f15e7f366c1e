package io.batchagent.cli;

import io.batchagent.client.BatchClient;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.ToolResponse;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows a batch's job-keyed topics from now on (turns started, turns waiting on tool calls, tool
 * calls answered) and tells a {@link BatchProgress} of each of its unfinished jobs' events, so that
 * progress and stalls are seen between final results.
 *
 * <p>It reads without a consumer group (no offsets committed, nothing to clean up) on its own
 * daemon thread until {@link #close()}. An undecodable record is skipped: this is a display, the
 * stages report bad records. Thread-safe.
 */
final class BatchActivity implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(BatchActivity.class);
    private static final Duration POLL = Duration.ofMillis(500);

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final Topics topics;
    private final BatchProgress progress;
    private final Thread thread;
    private volatile boolean closed;

    private BatchActivity(KafkaConsumer<byte[], byte[]> consumer, Topics topics, BatchProgress progress) {
        this.consumer = consumer;
        this.topics = topics;
        this.progress = progress;
        this.thread = new Thread(this::follow, "batch-activity");
        this.thread.setDaemon(true);
    }

    /** Starts following {@code client}'s topics at their current ends. */
    static BatchActivity follow(BatchClient client, BatchProgress progress) {
        Map<String, Object> config = new HashMap<>(client.kafkaConfig());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        config.remove(ConsumerConfig.GROUP_ID_CONFIG);
        KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(config, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        Topics topics = client.topics();
        try {
            List<TopicPartition> partitions = new ArrayList<>();
            for (String topic : List.of(
                    topics.agentTurns().name(),
                    topics.agentWaits().name(),
                    topics.toolResponses().name())) {
                consumer.partitionsFor(topic, Duration.ofSeconds(30))
                        .forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
            }
            consumer.assign(partitions);
            consumer.seekToEnd(partitions);
            partitions.forEach(consumer::position); // fixes "now" before the first poll
        } catch (RuntimeException e) {
            consumer.close();
            throw e;
        }
        BatchActivity activity = new BatchActivity(consumer, topics, progress);
        activity.thread.start();
        return activity;
    }

    private void follow() {
        try {
            while (!closed) {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(POLL)) {
                    dispatch(record);
                }
            }
        } catch (WakeupException e) {
            // close() ends the loop
        } catch (RuntimeException e) {
            LOGGER.warn("stopped following the batch's activity: {}", e.toString());
        } finally {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    private void dispatch(ConsumerRecord<byte[], byte[]> record) {
        String topic = record.topic();
        if (topic.equals(topics.agentTurns().name())) {
            AgentTurn turn = decode(topics.agentTurns(), record);
            if (turn != null) {
                progress.turnStarted(turn);
            }
        } else if (topic.equals(topics.agentWaits().name())) {
            AgentTurn turn = decode(topics.agentWaits(), record);
            if (turn != null) {
                progress.waitingOnTools(turn);
            }
        } else {
            ToolResponse response = decode(topics.toolResponses(), record);
            if (response != null) {
                progress.toolAnswered(response);
            }
        }
    }

    private static <V> V decode(Topics.Topic<String, V> topic, ConsumerRecord<byte[], byte[]> record) {
        try {
            return topic.valueSerde().deserializer().deserialize(record.topic(), record.value());
        } catch (RuntimeException e) {
            LOGGER.debug(
                    "skipping an undecodable record: topic={} partition={} offset={}",
                    record.topic(),
                    record.partition(),
                    record.offset());
            return null;
        }
    }

    @Override
    public void close() {
        closed = true;
        consumer.wakeup();
        try {
            thread.join(Duration.ofSeconds(10).toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
