package io.batchagent.observability;

import io.batchagent.events.AgentResult;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ToolResponse;
import io.batchagent.schemas.Topics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pipeline's cluster-wide meters, which no single stage sees whole: it reads the results, dead-letter
 * and tool-response topics as one consumer group and counts what passes, and it reads each stage's
 * committed offsets to publish its lag.
 *
 * <ul>
 *   <li>{@code batchagent_jobs_finished_total{status,reason}}: final results published ({@code reason} is
 *       {@code none} for SUCCEEDED). A job rerun with {@code --retry-failed}, or a result repeated by a
 *       replay, counts again;
 *   <li>{@code batchagent_dead_letters_total{stage,source_topic}}: records set aside as undecodable or
 *       unprocessable;
 *   <li>{@code batchagent_tool_requests_total{tool}} and {@code batchagent_tool_coalesced_total{tool}}: tool
 *       calls agents asked for (one response each, refused ones included), and those answered by another
 *       agent's execution; the same definitions as a batch summary's tool figures;
 *   <li>{@code batchagent_consumer_lag{stage,topic}}: records on the topic past the stage's committed
 *       offsets, summed over partitions.
 * </ul>
 *
 * <p>Several processes may run a monitor with the same group: the topics' partitions are shared among them,
 * so the counters summed over processes count each record once (at least once across a rebalance). Lag is
 * read from the cluster, so every monitor publishes the same figures: aggregate it with {@code max}.
 * Undecodable records are counted as such, never fatal. {@link #close()} stops both loops.
 */
public final class ClusterMonitor implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(ClusterMonitor.class);
    private static final Duration POLL = Duration.ofMillis(500);

    private final Topics topics;
    private final MeterRegistry registry;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final Admin admin;
    private final Map<String, String> groupsByStage;
    private final MultiGauge lag;
    private final Thread loop;
    private final ScheduledFuture<?> lagSchedule;
    private volatile boolean running = true;

    private ClusterMonitor(
            Map<String, Object> kafkaConfig,
            Topics topics,
            String groupId,
            Map<String, String> groupsByStage,
            MeterRegistry registry,
            ScheduledExecutorService scheduler,
            Duration lagInterval) {
        this.topics = Objects.requireNonNull(topics, "topics");
        this.registry = Objects.requireNonNull(registry, "registry");
        this.groupsByStage = Map.copyOf(groupsByStage);
        Map<String, Object> config = new HashMap<>(kafkaConfig);
        config.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        config.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        // A new group counts what the topics still hold; after that it goes on from its commits.
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, true);
        this.consumer = new KafkaConsumer<>(config, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.admin = Admin.create(new HashMap<>(kafkaConfig));
        this.lag = MultiGauge.builder("batchagent.consumer.lag")
                .description("Records past the stage's committed offsets, summed over partitions")
                .register(registry);
        this.loop = new Thread(this::run, "batchagent-cluster-monitor");
        this.loop.setDaemon(true);
        this.loop.start();
        this.lagSchedule =
                scheduler.scheduleWithFixedDelay(this::refreshLag, 0, lagInterval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Starts counting.
     *
     * @param kafkaConfig client settings, at least {@code bootstrap.servers}
     * @param groupId the monitor's consumer group; processes that share it share the counting
     * @param groupsByStage the consumer group (or Streams application id) of each stage whose lag to publish
     * @param scheduler runs the lag reads every {@code lagInterval}; stays the caller's
     */
    public static ClusterMonitor start(
            Map<String, Object> kafkaConfig,
            Topics topics,
            String groupId,
            Map<String, String> groupsByStage,
            MeterRegistry registry,
            ScheduledExecutorService scheduler,
            Duration lagInterval) {
        return new ClusterMonitor(kafkaConfig, topics, groupId, groupsByStage, registry, scheduler, lagInterval);
    }

    /** The topics a monitor reads, for access control. */
    public static List<String> topicsRead(Topics topics) {
        return List.of(
                topics.results().name(),
                topics.deadLetters().name(),
                topics.toolResponses().name());
    }

    private void run() {
        try {
            consumer.subscribe(topicsRead(topics));
            while (running) {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(POLL)) {
                    count(record);
                }
            }
        } catch (WakeupException e) {
            // close() asked us to stop.
        } catch (KafkaException e) {
            LOGGER.error("cluster monitor stopped: {}", e.toString(), e);
        } finally {
            consumer.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(5)));
        }
    }

    private void count(ConsumerRecord<byte[], byte[]> record) {
        if (record.value() == null) {
            return; // a tombstone on the compacted results topic: nothing finished
        }
        String topic = record.topic();
        try {
            if (topic.equals(topics.results().name())) {
                AgentResult result = decode(topics.results().valueSerde().deserializer()::deserialize, record);
                String reason = result.getError() == null
                        ? "none"
                        : result.getError().getReason().name().toLowerCase(Locale.ROOT);
                Counter.builder("batchagent.jobs.finished")
                        .description("Final job results published, by status and reason")
                        .tag("status", result.getStatus().name().toLowerCase(Locale.ROOT))
                        .tag("reason", reason)
                        .register(registry)
                        .increment();
            } else if (topic.equals(topics.deadLetters().name())) {
                DeadLetter letter = decode(topics.deadLetters().valueSerde().deserializer()::deserialize, record);
                deadLetter(letter.getStage(), letter.getTopic());
            } else if (topic.equals(topics.toolResponses().name())) {
                ToolResponse response =
                        decode(topics.toolResponses().valueSerde().deserializer()::deserialize, record);
                String tool = response.getResult().getTool();
                Counter.builder("batchagent.tool.requests")
                        .description("Tool calls agents asked for (one response each)")
                        .tag("tool", tool)
                        .register(registry)
                        .increment();
                Counter coalesced = Counter.builder("batchagent.tool.coalesced")
                        .description("Tool calls answered by another agent's execution")
                        .tag("tool", tool)
                        .register(registry);
                if (response.getCoalesced()) {
                    coalesced.increment();
                }
            }
        } catch (RuntimeException e) {
            LOGGER.warn(
                    "cluster monitor cannot decode a record: topic={} partition={} offset={} error={}",
                    topic,
                    record.partition(),
                    record.offset(),
                    e.toString());
            deadLetter("undecodable", topic);
        }
    }

    private void deadLetter(String stage, String sourceTopic) {
        Counter.builder("batchagent.dead.letters")
                .description("Records set aside on the dead-letter topic")
                .tag("stage", stage)
                .tag("source_topic", sourceTopic)
                .register(registry)
                .increment();
    }

    private interface Decoder<T> {
        T decode(String topic, byte[] bytes);
    }

    private static <T> T decode(Decoder<T> decoder, ConsumerRecord<byte[], byte[]> record) {
        return decoder.decode(record.topic(), record.value());
    }

    private void refreshLag() {
        try {
            List<MultiGauge.Row<?>> rows = new ArrayList<>();
            for (Map.Entry<String, String> stage : new TreeMap<>(groupsByStage).entrySet()) {
                Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(stage.getValue())
                        .partitionsToOffsetAndMetadata()
                        .get(10, TimeUnit.SECONDS);
                Map<TopicPartition, OffsetAndMetadata> ours = committed.entrySet().stream()
                        .filter(e -> e.getValue() != null)
                        .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
                if (ours.isEmpty()) {
                    continue;
                }
                Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends = admin.listOffsets(
                                ours.keySet().stream()
                                        .collect(Collectors.toMap(Function.identity(), p -> OffsetSpec.latest())))
                        .all()
                        .get(10, TimeUnit.SECONDS);
                Map<String, Long> byTopic = new TreeMap<>();
                ours.forEach((partition, offset) -> byTopic.merge(
                        partition.topic(), Math.max(0, ends.get(partition).offset() - offset.offset()), Long::sum));
                byTopic.forEach((topic, value) ->
                        rows.add(MultiGauge.Row.of(Tags.of("stage", stage.getKey(), "topic", topic), value)));
            }
            lag.register(rows, true);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            // A scheduled task that throws is never run again: keep the last figures and try next time.
            LOGGER.warn("consumer lag not readable: {}", e.toString());
        }
    }

    @Override
    public void close() {
        running = false;
        lagSchedule.cancel(true);
        consumer.wakeup();
        try {
            loop.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        admin.close(Duration.ofSeconds(5));
    }
}
