package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.events.OutputRef;
import io.batchagent.events.Role;
import io.batchagent.events.ToolCallRef;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolStatus;
import io.batchagent.schemas.Topics;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.TopicContents;
import io.batchagent.testkit.WithKafka;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/**
 * A tool output held by reference (issue 13, item 3) on a real broker: a worker that never saw it (a
 * fresh process, as after a crash) reads it back from its tool-results record to build the prompt, and
 * the records it writes carry the reference again, not the output. A reference that names no OK result
 * ends its job FAILED with the reference in the message; other jobs go on.
 */
@WithKafka
class ToolOutputsByReferenceIT {

    private static final Duration PATIENCE = Duration.ofMinutes(2);
    private static final String PAGE = "A page about Lyon: its bridges, its food and its people. ".repeat(150);

    private InferenceWorker worker;

    @AfterEach
    void close() {
        if (worker != null) {
            worker.close();
        }
    }

    @Test
    void shouldBuildThePromptFromAReferencedOutputAndWriteOnlyTheReferenceOnward(KafkaCluster kafka, TestInfo info)
            throws Exception {
        // Given a tool result on tool-results, and two continuations: one whose tool message holds a reference
        // to it, one whose reference names a record that is not an OK result of that size
        TestNames names = TestNames.of(info);
        Topics topics = Topics.create(names.topicPrefix(), Map.of());
        kafka.createTopics(topics, 2);
        BatchSpec spec = Fixtures.spec("batch-refs");
        OutputRef good;
        OutputRef bad;
        try (KafkaProducer<String, byte[]> producer =
                new KafkaProducer<>(kafka.producerConfig(), new StringSerializer(), new ByteArraySerializer())) {
            send(producer, topics.batchSpecs(), spec.getBatchId(), spec);
            good = refTo(
                    send(producer, topics.toolResults(), "hash-1", result("hash-1", ToolStatus.OK, PAGE)),
                    PAGE.length());
            bad = refTo(
                    send(producer, topics.toolResults(), "hash-2", result("hash-2", ToolStatus.ERROR, "boom")),
                    PAGE.length());
            send(producer, topics.agentContinuations(), "job-good", continuation(spec, "job-good", good));
            send(producer, topics.agentContinuations(), "job-bad", continuation(spec, "job-bad", bad));
        }

        // When a worker that never saw either output handles both, and the model asks for another tool
        ScriptedEngineClient engine = new ScriptedEngineClient()
                .answer(
                        "job-good",
                        ScriptedEngineClient.toolCalls(
                                new RequestedToolCall("c2", "web_search", "{\"query\":\"Lyon food\"}")));
        worker = new InferenceWorker(
                kafka.clientConfig(),
                topics,
                InferenceWorkerConfig.defaults()
                        .withGroupId(names.applicationId())
                        .withMaxInflight(4),
                engine);
        worker.start();

        // Then the engine saw the whole output in the good job's prompt
        await().atMost(PATIENCE)
                .until(() -> TopicContents.read(kafka.clientConfig(), topics.agentWaits())
                                .size()
                        == 2);
        assertThat(engine.requests()).hasSize(1);
        ChatMessage tool = engine.requests().get(0).prompt().messages().get(2);
        assertThat(tool.getContent()).isEqualTo(PAGE);

        // And the waiting record carries the reference, not the output
        List<AgentTurn> waits = TopicContents.read(kafka.clientConfig(), topics.agentWaits());
        AgentTurn waiting = waits.stream()
                .filter(t -> t.getJobId().equals("job-good"))
                .findFirst()
                .orElseThrow();
        assertThat(waiting.getMessages()).hasSize(4);
        assertThat(waiting.getMessages().get(2).getContent()).isNull();
        assertThat(waiting.getMessages().get(2).getContentRef()).isEqualTo(good);

        // And the job whose reference names no OK result ended FAILED, saying which record, without a model call
        AgentResult failed = waits.stream()
                .filter(t -> t.getJobId().equals("job-bad"))
                .findFirst()
                .orElseThrow()
                .getFinalResult();
        assertThat(failed.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.OTHER);
        assertThat(failed.getError().getMessage())
                .contains(topics.toolResults().name() + "-" + bad.getPartition() + "@" + bad.getOffset())
                .contains("not the OK result");
    }

    private static AgentTurn continuation(BatchSpec spec, String jobId, OutputRef ref) {
        ToolCallRef call = new ToolCallRef("c1", "web_search", "{\"query\":\"Lyon\"}", "hash-1");
        List<ChatMessage> messages = List.of(
                Fixtures.user("Tell me about Lyon."),
                ChatMessage.newBuilder()
                        .setRole(Role.ASSISTANT)
                        .setContent(null)
                        .setToolCalls(List.of(call))
                        .build(),
                ChatMessage.newBuilder()
                        .setRole(Role.TOOL)
                        .setToolCallId("c1")
                        .setContent(null)
                        .setContentRef(ref)
                        .build());
        return Fixtures.turn(jobId, spec.getBatchId(), 2, messages, System.currentTimeMillis());
    }

    private static ToolResult result(String hash, ToolStatus status, String output) {
        return ToolResult.newBuilder()
                .setCallHash(hash)
                .setTool("web_search")
                .setStatus(status)
                .setOutput(output)
                .build();
    }

    private static OutputRef refTo(RecordMetadata written, int chars) {
        return OutputRef.newBuilder()
                .setTopic(written.topic())
                .setPartition(written.partition())
                .setOffset(written.offset())
                .setChars(chars)
                .build();
    }

    private static <V> RecordMetadata send(
            KafkaProducer<String, byte[]> producer, Topics.Topic<String, V> topic, String key, V value)
            throws Exception {
        return producer.send(new ProducerRecord<>(
                        topic.name(), key, topic.valueSerde().serializer().serialize(topic.name(), value)))
                .get(30, TimeUnit.SECONDS);
    }
}
