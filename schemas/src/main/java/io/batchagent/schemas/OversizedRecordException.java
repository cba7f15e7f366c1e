package io.batchagent.schemas;

import org.apache.kafka.common.errors.RecordTooLargeException;

/**
 * A value larger than {@link RecordLimits#maxValueBytes()}, refused before it reached a producer. Not
 * retriable: the same value is refused again. Its message gives the topic, the size and the limit.
 */
public final class OversizedRecordException extends RecordTooLargeException {

    private static final long serialVersionUID = 1L;

    private final String topic;
    private final long sizeBytes;
    private final long limitBytes;

    public OversizedRecordException(String topic, long sizeBytes, long limitBytes) {
        super("a record for topic " + topic + " is " + sizeBytes + " bytes serialized, over the limit of " + limitBytes
                + " bytes (" + RecordLimits.MAX_RECORD_BYTES_CONFIG + " less headroom for key and headers)");
        this.topic = topic;
        this.sizeBytes = sizeBytes;
        this.limitBytes = limitBytes;
    }

    public String topic() {
        return topic;
    }

    public long sizeBytes() {
        return sizeBytes;
    }

    public long limitBytes() {
        return limitBytes;
    }
}
