package io.batchagent.topology;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolStatus;
import io.batchagent.schemas.JobHeaders;
import io.batchagent.schemas.OversizedRecordException;
import io.batchagent.schemas.Topics;
import io.batchagent.schemas.serde.SchemaRegistryUnavailableException;
import io.batchagent.topology.HandlerFixtures.Context;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.NotEnoughReplicasException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.ProcessingExceptionHandler;
import org.apache.kafka.streams.errors.ProductionExceptionHandler;
import org.apache.kafka.streams.errors.ProductionExceptionHandler.SerializationExceptionOrigin;
import org.apache.kafka.streams.processor.api.Record;
import org.junit.jupiter.api.Test;

/** {@link ProductionFailureHandler} and {@link ProcessingFailureHandler}, called as Kafka Streams calls them. */
class ProductionFailureHandlerTest {

    private static final Topics TOPICS = Topics.create("p.", Map.of());
    private static final AgentTurn TURN = TopologyFixtures.waiting("batch-9", "job-9", 2, "c1");

    @Test
    void shouldDeadLetterAndFailTheJobOfATurnTooLargeToSerialize() {
        ProductionFailureHandler handler = handler(StreamsConfig.EXACTLY_ONCE_V2);

        ProductionExceptionHandler.Response response = handler.handleSerializationError(
                new Context("p.tool-responses", 1, 77L),
                new ProducerRecord<>("p.agent-turns", "job-9", TURN),
                new OversizedRecordException("p.agent-turns", 9_000_000, 8_372_224),
                SerializationExceptionOrigin.VALUE);

        assertThat(response.result()).isEqualTo(ProductionExceptionHandler.Result.RESUME);
        assertThat(response.deadLetterQueueRecords())
                .extracting(ProducerRecord::topic)
                .containsExactly("p.dead-letters", "p.results");
        AgentResult failed = result(response.deadLetterQueueRecords().get(1));
        assertThat(failed.getJobId()).isEqualTo("job-9");
        assertThat(failed.getBatchId()).isEqualTo("batch-9");
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.RECORD_TOO_LARGE);
        assertThat(failed.getError().getMessage()).contains("9000000 bytes").contains("8372224 bytes");
    }

    @Test
    void shouldAnswerTheWaitersOfAToolCallTooLargeToSerialize() {
        ToolCall call =
                new ToolCall("hash-1", "batch-9", TopologyFixtures.tool("lookup"), "{}", 1L, new ArrayList<>(), 0L);

        ProductionExceptionHandler.Response response = handler(StreamsConfig.EXACTLY_ONCE_V2)
                .handleSerializationError(
                        new Context("p.tool-requests", 0, 1L),
                        new ProducerRecord<>("p.tool-calls", "hash-1", call),
                        new OversizedRecordException("p.tool-calls", 100, 50),
                        SerializationExceptionOrigin.VALUE);

        ProducerRecord<byte[], byte[]> answer =
                response.deadLetterQueueRecords().get(1);
        ToolResult error = TOPICS.toolResults().valueSerde().deserializer().deserialize(answer.topic(), answer.value());
        assertThat(answer.topic()).isEqualTo("p.tool-results");
        assertThat(error.getCallHash()).isEqualTo("hash-1");
        assertThat(error.getStatus()).isEqualTo(ToolStatus.ERROR);
    }

    @Test
    void shouldReadTheInputAgainWhenSerializingMeetsARegistryOutage() {
        ProductionExceptionHandler.Response response = handler(StreamsConfig.EXACTLY_ONCE_V2)
                .handleSerializationError(
                        new Context("p.agent-waits", 0, 1L),
                        new ProducerRecord<>("p.agent-turns", "job-9", TURN),
                        new SchemaRegistryUnavailableException("HTTP 503", null),
                        SerializationExceptionOrigin.VALUE);

        assertThat(response.result()).isEqualTo(ProductionExceptionHandler.Result.FAIL);
        assertThat(response.deadLetterQueueRecords()).isEmpty();
    }

    @Test
    void shouldRetryARetriableSendError() {
        ProductionExceptionHandler.Response response = handler(StreamsConfig.AT_LEAST_ONCE)
                .handleError(
                        new Context("p.agent-waits", 0, 1L),
                        serialized("p.agent-turns", "job-9"),
                        new NotEnoughReplicasException("not enough replicas"));

        assertThat(response.result()).isEqualTo(ProductionExceptionHandler.Result.RETRY);
        assertThat(response.deadLetterQueueRecords()).isEmpty();
    }

    @Test
    void shouldFailTheJobOfARecordTheBrokerRefusedUnderAtLeastOnce() {
        ProductionExceptionHandler.Response response = handler(StreamsConfig.AT_LEAST_ONCE)
                .handleError(
                        new Context("p.agent-waits", 0, 1L),
                        serialized("p.agent-turns", "job-9"),
                        new RecordTooLargeException("The request included a message larger than the max message size"));

        assertThat(response.result()).isEqualTo(ProductionExceptionHandler.Result.RESUME);
        AgentResult failed = result(response.deadLetterQueueRecords().get(1));
        assertThat(failed.getJobId()).isEqualTo("job-9");
        assertThat(failed.getBatchId()).isEqualTo("batch-9");
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.RECORD_TOO_LARGE);
    }

    @Test
    void shouldFailTheThreadWhenTheBrokerRefusedARecordUnderExactlyOnce() {
        ProductionExceptionHandler.Response response = handler(StreamsConfig.EXACTLY_ONCE_V2)
                .handleError(
                        new Context("p.agent-waits", 0, 1L),
                        serialized("p.agent-turns", "job-9"),
                        new RecordTooLargeException("The request included a message larger than the max message size"));

        assertThat(response.result()).isEqualTo(ProductionExceptionHandler.Result.FAIL);
        assertThat(response.deadLetterQueueRecords()).isEmpty();
    }

    @Test
    void shouldFailTheJobWhoseStateOutgrowsTheBudgetAndGoOn() {
        ProcessingFailureHandler handler = new ProcessingFailureHandler();
        handler.configure(Map.of(StreamsSettings.TOPIC_PREFIX_CONFIG, "p."));
        Context context = new Context(
                "p.agent-waits",
                3,
                12L,
                "record-waiting-turn",
                new RecordHeaders(),
                "job-9".getBytes(StandardCharsets.UTF_8),
                new byte[] {0, 1});

        ProcessingExceptionHandler.Response response = handler.handleError(
                context,
                new Record<>("job-9", TURN, 1L),
                new org.apache.kafka.streams.errors.StreamsException(
                        new OversizedRecordException("app-turn-assembly-changelog", 9_000_000, 8_372_224)));

        assertThat(response.result()).isEqualTo(ProcessingExceptionHandler.Result.RESUME);
        AgentResult failed = result(response.deadLetterQueueRecords().get(1));
        assertThat(failed.getJobId()).isEqualTo("job-9");
        assertThat(failed.getBatchId()).isEqualTo("batch-9");
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.RECORD_TOO_LARGE);
        assertThat(handler.handleError(context, new Record<>("job-9", TURN, 1L), new IllegalStateException("a bug"))
                        .result())
                .isEqualTo(ProcessingExceptionHandler.Result.FAIL);
    }

    private static ProductionFailureHandler handler(String guarantee) {
        ProductionFailureHandler handler = new ProductionFailureHandler();
        handler.configure(Map.of(
                StreamsSettings.TOPIC_PREFIX_CONFIG, "p.", StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee));
        return handler;
    }

    private static ProducerRecord<byte[], byte[]> serialized(String topic, String key) {
        byte[] value = TOPICS.agentTurns().valueSerde().serializer().serialize(topic, TURN);
        return new ProducerRecord<>(
                topic, null, key.getBytes(StandardCharsets.UTF_8), value, JobHeaders.stamp(new RecordHeaders(), TURN));
    }

    private static AgentResult result(ProducerRecord<byte[], byte[]> record) {
        assertThat(record.topic()).isEqualTo("p.results");
        return TOPICS.results().valueSerde().deserializer().deserialize(record.topic(), record.value());
    }
}
