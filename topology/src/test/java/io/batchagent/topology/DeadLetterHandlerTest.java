package io.batchagent.topology;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.AgentResult;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolStatus;
import io.batchagent.schemas.JobHeaders;
import io.batchagent.schemas.RecordLimits;
import io.batchagent.schemas.Topics;
import io.batchagent.schemas.serde.SchemaRegistryUnavailableException;
import io.batchagent.topology.HandlerFixtures.Context;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.streams.errors.DeserializationExceptionHandler;
import org.junit.jupiter.api.Test;

class DeadLetterHandlerTest {

    private static final Topics TOPICS = Topics.create("p.", Map.of());

    private final DeadLetterHandler handler = new DeadLetterHandler();

    DeadLetterHandlerTest() {
        handler.configure(Map.of(StreamsSettings.TOPIC_PREFIX_CONFIG, "p."));
    }

    @Test
    void shouldDeadLetterAnUndecodableJobAndFailItByKey() {
        byte[] key = "b-7".getBytes(StandardCharsets.UTF_8);
        byte[] value = "garbage".getBytes(StandardCharsets.UTF_8);
        ConsumerRecord<byte[], byte[]> record = new ConsumerRecord<>("p.agent-jobs", 2, 41L, key, value);

        DeserializationExceptionHandler.Response response = handler.handleError(
                new Context("p.agent-jobs", 2, 41L),
                record,
                new SerializationException("not in the Confluent wire format"));

        assertThat(response.result()).isEqualTo(DeserializationExceptionHandler.Result.RESUME);
        assertThat(response.deadLetterQueueRecords()).hasSize(2);
        DeadLetter letter = letter(response.deadLetterQueueRecords().get(0));
        assertThat(letter.getTopic()).isEqualTo("p.agent-jobs");
        assertThat(letter.getPartition()).isEqualTo(2);
        assertThat(letter.getOffset()).isEqualTo(41L);
        assertThat(letter.getReason()).contains("Confluent wire format");
        assertThat(letter.getValue().array()).isEqualTo(value);

        AgentResult failed = result(response.deadLetterQueueRecords().get(1));
        assertThat(failed.getJobId()).isEqualTo("b-7");
        assertThat(failed.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.UNDECODABLE_RECORD);
        assertThat(failed.getError().getMessage()).contains("p.agent-jobs/2@41");
    }

    @Test
    void shouldNotHandKip1034RecordsToTheGlobalThread() {
        // Kafka Streams 4.4's global thread dies on a response carrying dead-letter records
        // (ClassCastException to RecordCollector.Supplier); the handler writes the letter itself.
        ConsumerRecord<byte[], byte[]> record = new ConsumerRecord<>(
                "p.batch-specs",
                0,
                3L,
                "b-1".getBytes(StandardCharsets.UTF_8),
                "garbage".getBytes(StandardCharsets.UTF_8));

        DeserializationExceptionHandler.Response response = handler.handleError(
                new HandlerFixtures.GlobalContext("p.batch-specs", 0, 3L), record, new SerializationException("bad"));

        assertThat(response.result()).isEqualTo(DeserializationExceptionHandler.Result.RESUME);
        assertThat(response.deadLetterQueueRecords()).isEmpty();
    }

    @Test
    void shouldFailAnUndecodableWaitWithTheBatchIdOfItsHeaders() {
        ConsumerRecord<byte[], byte[]> record =
                withHeaders("p.agent-waits", "job-3".getBytes(StandardCharsets.UTF_8), "job-3", "map-batch");

        DeserializationExceptionHandler.Response response =
                handler.handleError(new Context("p.agent-waits", 0, 9L), record, new SerializationException("bad"));

        AgentResult failed = result(response.deadLetterQueueRecords().get(1));
        assertThat(failed.getJobId()).isEqualTo("job-3");
        assertThat(failed.getBatchId()).isEqualTo("map-batch");
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.UNDECODABLE_RECORD);
    }

    @Test
    void shouldFailTheJobNamedInTheHeadersOfAnUndecodableToolRequest() {
        ConsumerRecord<byte[], byte[]> record =
                withHeaders("p.tool-requests", "9f2c-call-hash".getBytes(StandardCharsets.UTF_8), "job-4", "batch-4");

        DeserializationExceptionHandler.Response response =
                handler.handleError(new Context("p.tool-requests", 1, 5L), record, new SerializationException("bad"));

        assertThat(response.deadLetterQueueRecords()).hasSize(2);
        ProducerRecord<byte[], byte[]> resultRecord =
                response.deadLetterQueueRecords().get(1);
        assertThat(new String(resultRecord.key(), StandardCharsets.UTF_8)).isEqualTo("job-4");
        AgentResult failed = result(resultRecord);
        assertThat(failed.getJobId()).isEqualTo("job-4");
        assertThat(failed.getBatchId()).isEqualTo("batch-4");
        assertThat(failed.getError().getMessage()).contains("p.tool-requests/0@9");
    }

    @Test
    void shouldAnswerEveryWaiterWithAnErrorWhenAToolResultCannotBeDecoded() {
        ConsumerRecord<byte[], byte[]> record = new ConsumerRecord<>(
                "p.tool-results", 0, 3L, "abc123".getBytes(StandardCharsets.UTF_8), new byte[] {1});

        DeserializationExceptionHandler.Response response =
                handler.handleError(new Context("p.tool-results", 0, 3L), record, new SerializationException("bad"));

        assertThat(response.deadLetterQueueRecords()).hasSize(2);
        ProducerRecord<byte[], byte[]> answer =
                response.deadLetterQueueRecords().get(1);
        assertThat(answer.topic()).isEqualTo("p.tool-results");
        assertThat(new String(answer.key(), StandardCharsets.UTF_8)).isEqualTo("abc123");
        ToolResult error = TOPICS.toolResults().valueSerde().deserializer().deserialize(answer.topic(), answer.value());
        assertThat(error.getCallHash()).isEqualTo("abc123");
        assertThat(error.getStatus()).isEqualTo(ToolStatus.ERROR);
        assertThat(error.getError()).contains("could not be decoded").contains("p.tool-results/0@3");
    }

    @Test
    void shouldOnlyDeadLetterAnUndecodableRecordThatNamesNoJob() {
        ConsumerRecord<byte[], byte[]> record = new ConsumerRecord<>("p.tool-requests", 0, 3L, null, new byte[] {1});

        DeserializationExceptionHandler.Response response =
                handler.handleError(new Context("p.tool-requests", 0, 3L), record, new SerializationException("bad"));

        assertThat(response.deadLetterQueueRecords())
                .singleElement()
                .satisfies(r -> assertThat(r.topic()).isEqualTo("p.dead-letters"));
    }

    @Test
    void shouldFailTheThreadWithoutADeadLetterWhenTheRegistryIsUnavailable() {
        ConsumerRecord<byte[], byte[]> record = new ConsumerRecord<>(
                "p.agent-jobs", 0, 3L, "b-1".getBytes(StandardCharsets.UTF_8), new byte[] {0, 0, 0, 0, 7});

        DeserializationExceptionHandler.Response response = handler.handleError(
                new Context("p.agent-jobs", 0, 3L),
                record,
                new SerializationException("wrapped", new SchemaRegistryUnavailableException("HTTP 503", null)));

        assertThat(response.result()).isEqualTo(DeserializationExceptionHandler.Result.FAIL);
        assertThat(response.deadLetterQueueRecords()).isEmpty();
    }

    @Test
    void shouldCutAValueTooLargeToFitADeadLetter() {
        Map<String, Object> small =
                Map.of(StreamsSettings.TOPIC_PREFIX_CONFIG, "p.", RecordLimits.MAX_RECORD_BYTES_CONFIG, 64 * 1024);
        DeadLetterHandler bounded = new DeadLetterHandler();
        bounded.configure(small);
        byte[] huge = new byte[60 * 1024];
        ConsumerRecord<byte[], byte[]> record =
                new ConsumerRecord<>("p.agent-jobs", 0, 1L, "b-2".getBytes(StandardCharsets.UTF_8), huge);

        DeserializationExceptionHandler.Response response =
                bounded.handleError(new Context("p.agent-jobs", 0, 1L), record, new SerializationException("bad"));

        DeadLetter letter = letter(response.deadLetterQueueRecords().get(0));
        assertThat(letter.getValue().remaining()).isLessThan(huge.length);
        assertThat(letter.getReason()).contains("value cut to its first").contains("of " + huge.length + " bytes");
        assertThat(response.deadLetterQueueRecords().get(0).value().length)
                .isLessThanOrEqualTo(Topics.create("p.", small).limits().maxValueBytes());
    }

    private static ConsumerRecord<byte[], byte[]> withHeaders(String topic, byte[] key, String jobId, String batchId) {
        RecordHeaders headers = new RecordHeaders();
        headers.add(JobHeaders.JOB_ID, jobId.getBytes(StandardCharsets.UTF_8));
        headers.add(JobHeaders.BATCH_ID, batchId.getBytes(StandardCharsets.UTF_8));
        return new ConsumerRecord<>(
                topic,
                0,
                9L,
                0L,
                TimestampType.CREATE_TIME,
                key.length,
                1,
                key,
                new byte[] {1},
                headers,
                java.util.Optional.empty());
    }

    private static DeadLetter letter(ProducerRecord<byte[], byte[]> record) {
        assertThat(record.topic()).isEqualTo("p.dead-letters");
        return TOPICS.deadLetters().valueSerde().deserializer().deserialize(record.topic(), record.value());
    }

    private static AgentResult result(ProducerRecord<byte[], byte[]> record) {
        assertThat(record.topic()).isEqualTo("p.results");
        return TOPICS.results().valueSerde().deserializer().deserialize(record.topic(), record.value());
    }
}
