package io.batchagent.topology;

import io.batchagent.events.ErrorReason;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.ProcessingExceptionHandler;
import org.apache.kafka.streams.processor.api.Record;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides what happens when a processor fails on a record (KIP-1033). Only one failure is the
 * record's own: a state-store value over the record budget (the store's serde refuses it before its
 * changelog sees it). That record goes to the dead letters and the job it names ends FAILED with
 * RECORD_TOO_LARGE; the stream thread goes on. Every other failure (a bug, a retriable fault) answers
 * FAIL, as Kafka Streams' default does, and the thread policy ({@link StreamsSettings#threadFailurePolicy})
 * decides what follows.
 */
public final class ProcessingFailureHandler implements ProcessingExceptionHandler {

    private static final Logger LOGGER = LoggerFactory.getLogger(ProcessingFailureHandler.class);

    private DeadLetters deadLetters;

    @Override
    public void configure(Map<String, ?> configs) {
        this.deadLetters = DeadLetters.configure(configs);
    }

    @Override
    public Response handleError(ErrorHandlerContext context, Record<?, ?> record, Exception exception) {
        Optional<RecordTooLargeException> tooLarge = Failures.tooLarge(exception);
        if (tooLarge.isEmpty() || record == null || Failures.isRetriable(exception)) {
            return Response.fail();
        }
        long now = System.currentTimeMillis();
        String reason = Failures.describe(exception);
        Optional<String> jobId = deadLetters.jobOf(context.topic(), record.key(), record.value(), record.headers());
        String batchId = DeadLetters.batchOf(record.value(), record.headers()).orElse("");
        LOGGER.warn(
                "record too large for a state store, sent to dead letters: stage={} topic={} partition={} offset={} "
                        + "jobId={} reason={}",
                context.processorNodeId(),
                context.topic(),
                context.partition(),
                context.offset(),
                jobId.orElse(null),
                reason);
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        out.add(deadLetters.letter(
                context.processorNodeId(),
                context.topic(),
                context.partition(),
                context.offset(),
                context.sourceRawKey(),
                context.sourceRawValue(),
                record.headers(),
                reason,
                exception,
                now));
        jobId.ifPresent(id -> out.add(deadLetters.failedResult(
                id,
                batchId,
                ErrorReason.RECORD_TOO_LARGE,
                "stage " + context.processorNodeId() + " could not keep the state of this job: " + reason,
                now)));
        return Response.resume(out);
    }
}
