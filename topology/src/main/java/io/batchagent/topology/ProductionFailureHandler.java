package io.batchagent.topology;

import io.batchagent.events.ErrorReason;
import io.batchagent.events.ToolCall;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.ProductionExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides what happens to an output record a topology cannot write (KIP-1033/KIP-1034).
 *
 * <ul>
 *   <li>Retriable faults stay retriable: a broker fault while sending answers RETRY (Kafka Streams
 *       processes the task's input again), a registry fault while serializing answers FAIL (the thread
 *       policy replaces the thread, which reads the input again).
 *   <li>A record that cannot be serialized, above all one over the record budget (the topics' serdes
 *       refuse it before any producer sees it, see {@code RecordLimits}), becomes a dead letter plus the
 *       record that ends what it was about: a FAILED result (RECORD_TOO_LARGE with the sizes, or
 *       PUBLISH_FAILED) for the job it names, or an ERROR tool result for a tool call. The stream thread
 *       goes on: never a thread-replacement loop over the same input.
 *   <li>A record the producer or broker refused after serialization: the same, under at-least-once.
 *       Under exactly-once the producer has already aborted the transaction (the records built here
 *       could not be written in it), so the handler answers FAIL and says why: this happens only when a
 *       topic allows less than the record budget, which {@code TopicProvisioner} reports at start.
 * </ul>
 */
public final class ProductionFailureHandler implements ProductionExceptionHandler {

    private static final Logger LOGGER = LoggerFactory.getLogger(ProductionFailureHandler.class);

    private DeadLetters deadLetters;
    private boolean exactlyOnce;

    @Override
    public void configure(Map<String, ?> configs) {
        this.deadLetters = DeadLetters.configure(configs);
        this.exactlyOnce = DeadLetters.exactlyOnce(configs);
    }

    @Override
    public Response handleError(
            ErrorHandlerContext context, ProducerRecord<byte[], byte[]> record, Exception exception) {
        if (Failures.isRetriable(exception)) {
            LOGGER.warn(
                    "sending failed, will retry: topic={} stage={} reason={}",
                    record.topic(),
                    context.processorNodeId(),
                    Failures.describe(exception));
            return Response.retry();
        }
        if (exactlyOnce) {
            LOGGER.error(
                    "topic={} refused a record of stage={} and the transaction is aborted: {}. Under exactly-once "
                            + "nothing of this transaction can be written; check the topic's max.message.bytes against {}",
                    record.topic(),
                    context.processorNodeId(),
                    Failures.describe(exception),
                    deadLetters.topics().limits());
            return Response.fail();
        }
        return Response.resume(endWhatItWasAbout(
                context, record.topic(), record.key(), null, record.value(), record.headers(), exception));
    }

    @Override
    @SuppressWarnings("rawtypes") // the interface's signature
    public Response handleSerializationError(
            ErrorHandlerContext context,
            ProducerRecord record,
            Exception exception,
            SerializationExceptionOrigin origin) {
        if (Failures.isRetriable(exception)) {
            LOGGER.warn(
                    "serializing failed, the input will be read again: topic={} stage={} reason={}",
                    record.topic(),
                    context.processorNodeId(),
                    Failures.describe(exception));
            return Response.fail();
        }
        return Response.resume(endWhatItWasAbout(
                context, record.topic(), record.key(), record.value(), null, record.headers(), exception));
    }

    private List<ProducerRecord<byte[], byte[]>> endWhatItWasAbout(
            ErrorHandlerContext context,
            String topic,
            Object key,
            Object value,
            byte[] valueBytes,
            Headers headers,
            Exception exception) {
        long now = System.currentTimeMillis();
        String reason = Failures.describe(exception);
        Optional<RecordTooLargeException> tooLarge = Failures.tooLarge(exception);
        Optional<String> jobId = deadLetters
                .jobOf(topic, key, value, headers)
                .or(() -> deadLetters.jobOf(context.topic(), null, null, context.headers()));
        String batchId = DeadLetters.batchOf(value, headers)
                .or(() -> DeadLetters.batchOf(null, context.headers()))
                .orElse("");
        LOGGER.warn(
                "output record not written, sent to dead letters: topic={} stage={} jobId={} inputTopic={} "
                        + "partition={} offset={} reason={}",
                topic,
                context.processorNodeId(),
                jobId.orElse(null),
                context.topic(),
                context.partition(),
                context.offset(),
                reason);
        byte[] keyBytes = key instanceof byte[] bytes
                ? bytes
                : key == null ? null : key.toString().getBytes(StandardCharsets.UTF_8);
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        out.add(deadLetters.letter(
                context.processorNodeId(),
                topic,
                -1,
                -1,
                keyBytes,
                valueBytes,
                headers,
                "could not write to " + topic + ": " + reason,
                exception,
                now));
        String message =
                "stage " + context.processorNodeId() + " could not write its record to " + topic + ": " + reason;
        if (jobId.isPresent()) {
            out.add(deadLetters.failedResult(
                    jobId.get(),
                    batchId,
                    tooLarge.isPresent() ? ErrorReason.RECORD_TOO_LARGE : ErrorReason.PUBLISH_FAILED,
                    message,
                    now));
        } else if (value instanceof ToolCall call && !call.getCallHash().isEmpty()) {
            out.add(deadLetters.toolError(call.getCallHash(), message, now));
        }
        return out;
    }
}
