package io.batchagent.topology;

import io.batchagent.events.ErrorReason;
import io.batchagent.schemas.JobHeaders;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.streams.errors.DeserializationExceptionHandler;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides what happens to a record a topology cannot decode.
 *
 * <ul>
 *   <li>A transient fault (the cause chain holds a {@link org.apache.kafka.common.errors.RetriableException},
 *       for example a schema registry that stayed unavailable through the serde's own retries) is not the
 *       record's fault: the handler answers FAIL without a dead letter, the stream thread stops before
 *       committing, and the thread policy ({@link StreamsSettings#threadFailurePolicy}) starts a new one
 *       that reads the record again.
 *   <li>Anything else goes to the dead-letter topic (through Kafka Streams' KIP-1034 dead-letter records)
 *       and the topology goes on. So that no job waits for it forever, the handler also writes a FAILED
 *       result (UNDECODABLE_RECORD) for the job the record names: its key on a job-keyed topic
 *       ({@code agent-jobs}, {@code agent-turns}, {@code agent-waits}, {@code tool-responses}), else its
 *       {@link JobHeaders} (as on {@code tool-requests}), with the batch id from the headers. An undecodable
 *       {@code tool-results} record gets an ERROR tool result under its call hash instead, which the
 *       coalescer fans out to every agent waiting on that call.
 * </ul>
 *
 * <p>A global table's records ({@code batch-specs}) are read by the global stream thread, which cannot take
 * KIP-1034 dead-letter records: Kafka Streams 4.4 casts its context to a record collector and the global
 * thread dies, taking the whole stage down. There the handler writes the dead letter itself, through a
 * producer of its own, and skips the record.
 *
 * <p>Configured from the Streams properties: {@link StreamsSettings#TOPIC_PREFIX_CONFIG}, the serde
 * settings, and the client settings its own producer needs.
 */
public final class DeadLetterHandler implements DeserializationExceptionHandler {

    private static final Logger LOGGER = LoggerFactory.getLogger(DeadLetterHandler.class);

    private DeadLetters deadLetters;
    private GlobalDeadLetters globalDeadLetters;

    @Override
    public void configure(Map<String, ?> configs) {
        this.deadLetters = DeadLetters.configure(configs);
        this.globalDeadLetters = new GlobalDeadLetters(configs);
    }

    @Override
    public Response handleError(
            ErrorHandlerContext context, ConsumerRecord<byte[], byte[]> record, Exception exception) {
        String reason = Failures.describe(exception);
        if (Failures.isRetriable(exception)) {
            LOGGER.warn(
                    "record not decodable now, will be read again: topic={} partition={} offset={} reason={}",
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    reason);
            return Response.fail();
        }
        long now = System.currentTimeMillis();
        String where = record.topic() + "/" + record.partition() + "@" + record.offset();
        Optional<String> jobId = deadLetters.jobOf(record.topic(), record.key(), null, record.headers());
        LOGGER.warn(
                "undecodable record sent to dead letters: topic={} partition={} offset={} jobId={} reason={}",
                record.topic(),
                record.partition(),
                record.offset(),
                jobId.orElse(null),
                reason);
        ProducerRecord<byte[], byte[]> letter = deadLetters.letter(
                context.processorNodeId(),
                record.topic(),
                record.partition(),
                record.offset(),
                record.key(),
                record.value(),
                record.headers(),
                reason,
                exception,
                now);
        if (GlobalDeadLetters.isGlobal(context)) {
            globalDeadLetters.send(letter);
            return Response.resume();
        }
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        out.add(letter);
        if (jobId.isPresent()) {
            out.add(deadLetters.failedResult(
                    jobId.get(),
                    JobHeaders.batchId(record.headers()).orElse(""),
                    ErrorReason.UNDECODABLE_RECORD,
                    "the record at " + where + " could not be decoded: " + reason,
                    now));
        } else if (record.topic().equals(deadLetters.topics().toolResults().name()) && record.key() != null) {
            out.add(deadLetters.toolError(
                    new String(record.key(), StandardCharsets.UTF_8),
                    "the tool's result at " + where + " could not be decoded: " + reason,
                    now));
        }
        return Response.resume(out);
    }
}
