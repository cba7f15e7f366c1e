package io.batchagent.topology;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.AgentResult;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.schemas.Topics;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.errors.DeserializationExceptionHandler;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.processor.TaskId;
import org.junit.jupiter.api.Test;

class DeadLetterHandlerTest {

    private static final Topics TOPICS = Topics.create("p.", Map.of());

    private record Context(String topic, int partition, long offset) implements ErrorHandlerContext {
        @Override public Headers headers() { return new RecordHeaders(); }
        @Override public String processorNodeId() { return "agent-jobs-source"; }
        @Override public TaskId taskId() { return new TaskId(0, partition); }
        @Override public long timestamp() { return 0; }
        @Override public byte[] sourceRawKey() { return null; }
        @Override public byte[] sourceRawValue() { return null; }
    }

    private final DeadLetterHandler handler = new DeadLetterHandler();

    DeadLetterHandlerTest() {
        handler.configure(Map.of(StreamsSettings.TOPIC_PREFIX_CONFIG, "p."));
    }

    @Test
    void shouldDeadLetterAnUndecodableJobAndFailItByKey() {
        byte[] key = "b-7".getBytes(StandardCharsets.UTF_8);
        byte[] value = "garbage".getBytes(StandardCharsets.UTF_8);
        ConsumerRecord<byte[], byte[]> record = new ConsumerRecord<>("p.agent-jobs", 2, 41L, key, value);

        DeserializationExceptionHandler.Response response = handler.handleError(new Context("p.agent-jobs", 2, 41L),
                record, new SerializationException("not in the Confluent wire format"));

        assertThat(response.result()).isEqualTo(DeserializationExceptionHandler.Result.RESUME);
        assertThat(response.deadLetterQueueRecords()).hasSize(2);
        ProducerRecord<byte[], byte[]> letterRecord = response.deadLetterQueueRecords().get(0);
        assertThat(letterRecord.topic()).isEqualTo("p.dead-letters");
        DeadLetter letter = TOPICS.deadLetters().valueSerde().deserializer().deserialize("p.dead-letters", letterRecord.value());
        assertThat(letter.getTopic()).isEqualTo("p.agent-jobs");
        assertThat(letter.getPartition()).isEqualTo(2);
        assertThat(letter.getOffset()).isEqualTo(41L);
        assertThat(letter.getReason()).contains("Confluent wire format");
        assertThat(letter.getValue().array()).isEqualTo(value);

        ProducerRecord<byte[], byte[]> resultRecord = response.deadLetterQueueRecords().get(1);
        assertThat(resultRecord.topic()).isEqualTo("p.results");
        AgentResult failed = TOPICS.results().valueSerde().deserializer().deserialize("p.results", resultRecord.value());
        assertThat(failed.getJobId()).isEqualTo("b-7");
        assertThat(failed.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.UNDECODABLE_RECORD);
        assertThat(failed.getError().getMessage()).contains("p.agent-jobs/2@41");
    }

    @Test
    void shouldOnlyDeadLetterUndecodableRecordsOfOtherTopics() {
        ConsumerRecord<byte[], byte[]> record = new ConsumerRecord<>("p.tool-results", 0, 3L, null, new byte[] {1});

        DeserializationExceptionHandler.Response response = handler.handleError(new Context("p.tool-results", 0, 3L),
                record, new SerializationException("bad"));

        assertThat(response.deadLetterQueueRecords()).singleElement()
                .satisfies(r -> assertThat(r.topic()).isEqualTo("p.dead-letters"));
    }
}
