package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.JobStatus;
import io.batchagent.schemas.OutputRefs;
import io.batchagent.schemas.Topics;
import io.batchagent.schemas.serde.EventSerdes;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.IntStream;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Conversations stay small on the wire (issue 13, item 3), proved from the bytes on the topics: agents
 * that call an 8 KB tool for {@value #TOOL_TURNS} turns write at most {@value #BOUND}x their final
 * conversation to Kafka (every topic of the pipeline, its Streams changelogs and repartition topics
 * included: key and value of every committed record), while the same batch with every tool output inline
 * (the wire format before outputs travelled by reference) writes more than twice that bound, growing with
 * the square of the turns.
 */
@WithKafka
class WireBytesIT {

    private static final int AGENTS = 2;
    private static final int TOOL_TURNS = 20;
    private static final double BOUND = 3.0;

    @TempDir
    Path stateDir;

    @Test
    void shouldWriteAtMostThreeTimesTheFinalConversationPerJob(KafkaCluster kafka, TestInfo info) throws Exception {
        TestNames names = TestNames.of(info);

        Wire byReference = run(kafka, names, names.topicPrefix() + "refs.", Map.of());
        Wire inline = run(kafka, names, names.topicPrefix() + "inline.", Map.of(OutputRefs.INLINE_LIMIT_CONFIG, "0"));

        assertThat(byReference.conversationBytes())
                .as("the final conversation carries every output")
                .isGreaterThan(TOOL_TURNS * BulkyTool.OUTPUT_CHARS);
        assertThat(byReference.conversationBytes()).isEqualTo(inline.conversationBytes());
        assertThat(byReference.ratio())
                .as("bytes per job / final conversation, per topic: %s", byReference.perTopic())
                .isLessThanOrEqualTo(BOUND);
        assertThat(inline.ratio())
                .as("with every output inline, per topic: %s", inline.perTopic())
                .isGreaterThan(2 * BOUND);
    }

    /** What one batch wrote: its bytes per topic and job, and its mean final conversation. */
    record Wire(Map<String, Long> perTopic, double conversationBytes) {
        double ratio() {
            return perTopic.values().stream().mapToLong(Long::longValue).sum() / conversationBytes;
        }
    }

    private Wire run(KafkaCluster kafka, TestNames names, String prefix, Map<String, String> serde) throws Exception {
        try (PipelineFixture fixture = PipelineFixture.start(
                kafka,
                names,
                stateDir.resolve(prefix),
                SimulatorOptions.builder().profile("instant").toolTurns(TOOL_TURNS),
                c -> c.withTopicPrefix(prefix).withSerdeConfig(serde).withMaxInflight(8))) {
            BatchClient.Submission submission = fixture.client.submit("wire", definition());
            List<AgentResult> results = fixture.client.await(submission.jobIds(), r -> {}, Duration.ofMinutes(4));
            assertThat(results).hasSize(AGENTS).allSatisfy(result -> {
                assertThat(result.getStatus())
                        .as(String.valueOf(result.getError()))
                        .isEqualTo(JobStatus.SUCCEEDED);
                assertThat(result.getToolCallsRequested()).isEqualTo(TOOL_TURNS);
            });
            Topics topics = fixture.pipeline.topics();
            Map<String, Long> perTopic = new TreeMap<>();
            for (String topic : kafka.admin().listTopics().names().get()) {
                if (topic.startsWith(prefix)) {
                    perTopic.put(topic.substring(prefix.length()), bytesOf(kafka, topic) / AGENTS);
                }
            }
            return new Wire(perTopic, finalConversationBytes(kafka, topics));
        }
    }

    private static BatchDefinition definition() {
        EventSerdes.trustEventClasses();
        List<String> inputs = IntStream.range(0, AGENTS)
                .mapToObj(i -> "{\"topic\":\"wire agent " + i + "\"}")
                .toList();
        return new BatchDefinition(
                "You are a test agent that reads many pages.",
                "Topic: {topic}",
                inputs,
                List.of(BulkyTool.spec()),
                PipelineFixture.SCHEMA,
                "sim-model",
                TOOL_TURNS + 1,
                256,
                0,
                0,
                2,
                null);
    }

    /** Key and value bytes of every committed record of {@code topic}. */
    private static long bytesOf(KafkaCluster kafka, String topic) {
        long[] bytes = new long[1];
        scan(
                kafka,
                topic,
                record -> bytes[0] += (record.key() == null ? 0 : record.key().length)
                        + (record.value() == null ? 0 : record.value().length));
        return bytes[0];
    }

    /**
     * The mean Avro size of the jobs' last conversations (their last agent-continuations record), every
     * output held by reference counted inline as its characters.
     */
    private static double finalConversationBytes(KafkaCluster kafka, Topics topics) {
        var decoder = topics.agentContinuations().valueSerde().deserializer();
        Map<String, AgentTurn> last = new HashMap<>();
        scan(kafka, topics.agentContinuations().name(), record -> {
            AgentTurn turn = decoder.deserialize(record.topic(), record.headers(), record.value());
            last.merge(turn.getJobId(), turn, (a, b) -> b.getTurn() >= a.getTurn() ? b : a);
        });
        assertThat(last).hasSize(AGENTS);
        return last.values().stream()
                .mapToLong(turn -> inlineSize(turn.getMessages()))
                .average()
                .orElseThrow();
    }

    private static long inlineSize(List<ChatMessage> messages) {
        List<ChatMessage> inline = messages.stream()
                .map(m -> m.getContentRef() == null
                        ? m
                        : ChatMessage.newBuilder(m)
                                .setContent("x".repeat(m.getContentRef().getChars()))
                                .setContentRef(null)
                                .build())
                .toList();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
        try {
            new SpecificDatumWriter<List<ChatMessage>>(Schema.createArray(ChatMessage.getClassSchema()))
                    .write(inline, encoder);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out.size();
    }

    private static void scan(
            KafkaCluster kafka, String topic, java.util.function.Consumer<ConsumerRecord<byte[], byte[]>> each) {
        Map<String, Object> config = new HashMap<>(kafka.clientConfig());
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(config, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                    .map(p -> new TopicPartition(topic, p.partition()))
                    .toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
                consumer.poll(Duration.ofMillis(100)).forEach(each);
            }
        }
    }
}
