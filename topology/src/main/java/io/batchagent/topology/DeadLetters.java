package io.batchagent.topology;

import io.batchagent.events.AgentResult;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolStatus;
import io.batchagent.schemas.JobHeaders;
import io.batchagent.schemas.Topics;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.StreamsConfig;

/**
 * Builds the records the error handlers hand back to Kafka Streams (KIP-1034): the dead letter, and
 * the record that ends what the failed record was about, so nothing waits for it forever:
 *
 * <ul>
 *   <li>a FAILED result for the job the record names (its key on a job-keyed topic, else its
 *       {@link JobHeaders}), with the batch id when known (a workflow follows its jobs by batch id);
 *   <li>for a record about one tool call ({@code tool-results}, {@code tool-calls}), an ERROR
 *       {@link ToolResult} under its call hash, which the coalescer fans out to every waiting agent.
 * </ul>
 *
 * <p>Every record built here fits the record budget: a copied value that would not is cut, and the
 * dead letter says so. Configured from the Streams properties ({@link StreamsSettings#TOPIC_PREFIX_CONFIG}
 * and the serde settings). Thread-safe.
 */
final class DeadLetters {

    /** Room kept in a dead letter for everything but the copied key and value. */
    private static final int LETTER_OVERHEAD_BYTES = 16 * 1024;

    private final Topics topics;

    private DeadLetters(Topics topics) {
        this.topics = topics;
    }

    static DeadLetters configure(Map<String, ?> configs) {
        Object prefix = configs.get(StreamsSettings.TOPIC_PREFIX_CONFIG);
        return new DeadLetters(Topics.create(prefix == null ? "" : prefix.toString(), configs));
    }

    Topics topics() {
        return topics;
    }

    /** Whether the processing guarantee in {@code configs} is exactly-once. */
    static boolean exactlyOnce(Map<String, ?> configs) {
        Object guarantee = configs.get(StreamsConfig.PROCESSING_GUARANTEE_CONFIG);
        return guarantee != null && guarantee.toString().startsWith("exactly_once");
    }

    /** A dead letter for a record at {@code topic/partition@offset}; {@code key} and {@code value} may be null. */
    ProducerRecord<byte[], byte[]> letter(
            String stage,
            String topic,
            int partition,
            long offset,
            byte[] key,
            byte[] value,
            Headers jobHeaders,
            String reason,
            Throwable error,
            long now) {
        int room = topics.limits().maxValueBytes() - LETTER_OVERHEAD_BYTES - (key == null ? 0 : key.length);
        String why = reason;
        byte[] kept = value;
        if (value != null && value.length > room) {
            kept = Arrays.copyOf(value, Math.max(0, room));
            why = reason + " [value cut to its first " + kept.length + " of " + value.length + " bytes]";
        }
        DeadLetter letter = DeadLetter.newBuilder()
                .setStage(stage == null ? "" : stage)
                .setTopic(topic == null ? "" : topic)
                .setPartition(partition)
                .setOffset(offset)
                .setKey(key == null ? null : ByteBuffer.wrap(key))
                .setValue(kept == null ? null : ByteBuffer.wrap(kept))
                .setReason(why)
                .setExceptionClass(error.getClass().getName())
                .setRecordedAtMs(now)
                .build();
        String deadLetters = topics.deadLetters().name();
        Headers headers = new RecordHeaders();
        JobHeaders.jobId(jobHeaders)
                .ifPresent(id -> headers.add(JobHeaders.JOB_ID, id.getBytes(StandardCharsets.UTF_8)));
        JobHeaders.batchId(jobHeaders)
                .ifPresent(id -> headers.add(JobHeaders.BATCH_ID, id.getBytes(StandardCharsets.UTF_8)));
        return new ProducerRecord<>(
                deadLetters,
                null,
                key,
                topics.deadLetters().valueSerde().serializer().serialize(deadLetters, letter),
                headers);
    }

    /** The FAILED result that ends {@code jobId}. */
    ProducerRecord<byte[], byte[]> failedResult(
            String jobId, String batchId, ErrorReason reason, String message, long now) {
        AgentResult failed = Outcomes.failed(jobId, batchId == null ? "" : batchId, -1, reason, message, now, now);
        String results = topics.results().name();
        Headers headers = JobHeaders.stamp(new RecordHeaders(), failed);
        return new ProducerRecord<>(
                results,
                null,
                jobId.getBytes(StandardCharsets.UTF_8),
                topics.results().valueSerde().serializer().serialize(results, failed),
                headers);
    }

    /** An ERROR result for the tool call {@code callHash}, for every agent that waits on it. */
    ProducerRecord<byte[], byte[]> toolError(String callHash, String message, long now) {
        ToolResult error = ToolResult.newBuilder()
                .setCallHash(callHash)
                .setTool("")
                .setStatus(ToolStatus.ERROR)
                .setOutput(message)
                .setError(message)
                .setExecuted(false)
                .setStartedAtMs(now)
                .setFinishedAtMs(now)
                .build();
        String toolResults = topics.toolResults().name();
        return new ProducerRecord<>(
                toolResults,
                null,
                callHash.getBytes(StandardCharsets.UTF_8),
                topics.toolResults().valueSerde().serializer().serialize(toolResults, error));
    }

    /** Whether records of {@code topic} are keyed by the job they move forward. */
    boolean jobKeyed(String topic) {
        return topics.jobKeyed().stream().anyMatch(t -> t.name().equals(topic));
    }

    /**
     * The job a record names: its key on a job-keyed topic, else the {@code jobId} of its value, else its
     * headers.
     */
    Optional<String> jobOf(String topic, Object key, Object value, Headers headers) {
        if (key != null && jobKeyed(topic)) {
            return Optional.of(
                    key instanceof byte[] bytes ? new String(bytes, StandardCharsets.UTF_8) : key.toString());
        }
        return field(value, "jobId").or(() -> JobHeaders.jobId(headers));
    }

    /** The batch a record belongs to: the {@code batchId} of its value, else its headers. */
    static Optional<String> batchOf(Object value, Headers headers) {
        return field(value, "batchId").or(() -> JobHeaders.batchId(headers));
    }

    private static Optional<String> field(Object value, String name) {
        if (value instanceof SpecificRecord record && record.getSchema().getField(name) != null) {
            Object field = record.get(record.getSchema().getField(name).pos());
            return field == null || field.toString().isEmpty() ? Optional.empty() : Optional.of(field.toString());
        }
        return Optional.empty();
    }
}
