package io.batchagent.topology;

import io.batchagent.events.AgentResult;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ErrorReason;
import io.batchagent.schemas.Topics;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.streams.errors.DeserializationExceptionHandler;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns a record a topology cannot decode into a {@link DeadLetter} on the dead-letter topic (through
 * Kafka Streams' KIP-1034 dead-letter records) and lets the topology go on. An undecodable job on
 * {@code agent-jobs} whose key is its job id also gets a FAILED result, so the job does not simply
 * vanish.
 *
 * <p>Configured from the Streams properties: {@link StreamsSettings#TOPIC_PREFIX_CONFIG} and the
 * serde settings.
 */
public final class DeadLetterHandler implements DeserializationExceptionHandler {

    private static final Logger LOGGER = LoggerFactory.getLogger(DeadLetterHandler.class);

    private Topics topics;

    @Override
    public void configure(Map<String, ?> configs) {
        Object prefix = configs.get(StreamsSettings.TOPIC_PREFIX_CONFIG);
        this.topics = Topics.create(prefix == null ? "" : prefix.toString(), configs);
    }

    @Override
    public Response handleError(ErrorHandlerContext context, ConsumerRecord<byte[], byte[]> record, Exception exception) {
        long now = System.currentTimeMillis();
        String reason = describe(exception);
        LOGGER.warn("undecodable record sent to dead letters: topic={} partition={} offset={} reason={}",
                record.topic(), record.partition(), record.offset(), reason);
        DeadLetter letter = DeadLetter.newBuilder()
                .setStage(context.processorNodeId())
                .setTopic(record.topic())
                .setPartition(record.partition())
                .setOffset(record.offset())
                .setKey(record.key() == null ? null : ByteBuffer.wrap(record.key()))
                .setValue(record.value() == null ? null : ByteBuffer.wrap(record.value()))
                .setReason(reason)
                .setExceptionClass(exception.getClass().getName())
                .setRecordedAtMs(now)
                .build();
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        String deadLetters = topics.deadLetters().name();
        out.add(new ProducerRecord<>(deadLetters, null, record.key(),
                topics.deadLetters().valueSerde().serializer().serialize(deadLetters, letter)));
        if (record.topic().equals(topics.agentJobs().name()) && record.key() != null) {
            String jobId = new String(record.key(), StandardCharsets.UTF_8);
            AgentResult failed = Outcomes.failed(jobId, "", -1, ErrorReason.UNDECODABLE_RECORD,
                    "the job record at " + record.topic() + "/" + record.partition() + "@" + record.offset()
                            + " could not be decoded: " + reason, now, now);
            String results = topics.results().name();
            out.add(new ProducerRecord<>(results, null, record.key(),
                    topics.results().valueSerde().serializer().serialize(results, failed)));
        }
        return Response.resume(out);
    }

    private static String describe(Throwable exception) {
        StringBuilder text = new StringBuilder(String.valueOf(exception.getMessage()));
        for (Throwable cause = exception.getCause(); cause != null && cause != cause.getCause(); cause = cause.getCause()) {
            text.append(": ").append(cause.getMessage());
        }
        return text.toString();
    }
}
