package io.batchagent.schemas;

import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.apache.avro.Schema;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * The record headers that name the job and batch a record belongs to, whatever its key. Records keyed
 * by call hash ({@code tool-requests}) name no job in their key, and a record that cannot be decoded
 * names nothing in its value; these headers let a dead-letter handler still end the right job FAILED,
 * with its batch id (a workflow follows its map jobs' results by batch id).
 *
 * <p>Every producer of a record about a job stamps them with {@link #stamp}; readers must treat them as
 * hints (a record from an older producer has none).
 */
public final class JobHeaders {

    /** UTF-8 job id. */
    public static final String JOB_ID = "batchagent.job-id";
    /** UTF-8 batch id. */
    public static final String BATCH_ID = "batchagent.batch-id";

    private JobHeaders() {}

    /**
     * Sets {@value #JOB_ID} and {@value #BATCH_ID} on {@code headers} from the value's {@code jobId} and
     * {@code batchId} fields, replacing earlier ones; a value without such a field (or with it empty)
     * leaves that header out. {@code headers} must be writable.
     *
     * @return {@code headers}
     */
    public static Headers stamp(Headers headers, Object value) {
        if (value instanceof SpecificRecord record) {
            set(headers, JOB_ID, field(record, "jobId"));
            set(headers, BATCH_ID, field(record, "batchId"));
        }
        return headers;
    }

    /** The job id a record's headers name, if any. */
    public static Optional<String> jobId(Headers headers) {
        return read(headers, JOB_ID);
    }

    /** The batch id a record's headers name, if any. */
    public static Optional<String> batchId(Headers headers) {
        return read(headers, BATCH_ID);
    }

    private static String field(SpecificRecord record, String name) {
        Schema.Field field = record.getSchema().getField(name);
        Object value = field == null ? null : record.get(field.pos());
        return value == null ? null : value.toString();
    }

    private static void set(Headers headers, String name, String value) {
        if (value == null || value.isEmpty()) {
            return;
        }
        headers.remove(name);
        headers.add(name, value.getBytes(StandardCharsets.UTF_8));
    }

    private static Optional<String> read(Headers headers, String name) {
        Header header = headers == null ? null : headers.lastHeader(name);
        if (header == null || header.value() == null || header.value().length == 0) {
            return Optional.empty();
        }
        return Optional.of(new String(header.value(), StandardCharsets.UTF_8));
    }
}
