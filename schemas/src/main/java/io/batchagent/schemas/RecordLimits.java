package io.batchagent.schemas;

import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.TopicConfig;

/**
 * The one record budget every BatchAgent stage runs under, so that what a stage may write is what its
 * producer may send and what the topic accepts.
 *
 * <ul>
 *   <li>{@link #maxRecordBytes()} ({@value #MAX_RECORD_BYTES_CONFIG}, default
 *       {@value #DEFAULT_MAX_RECORD_BYTES} bytes, 8 MiB): every producer's {@code max.request.size}. The
 *       producer checks it against a record's uncompressed size (key, value, headers).
 *   <li>{@link #maxMessageBytes()}: {@code max.message.bytes} of every topic BatchAgent creates, its own
 *       and the Kafka Streams internal (changelog, repartition) topics: the record budget plus
 *       {@value #FRAMING_BYTES} bytes for batch framing, so a record the producer accepts is never
 *       refused by the broker (which checks the compressed batch).
 *   <li>{@link #maxValueBytes()}: the largest serialized value a stage may write, the record budget less
 *       {@value #HEADROOM_BYTES} bytes for the key, headers and record framing. The topics' value serdes
 *       refuse larger values with an {@link OversizedRecordException} before anything reaches a producer.
 *   <li>Producers compress with {@value #COMPRESSION_TYPE} unless {@code compression.type} is set.
 * </ul>
 *
 * <p>The same value must be configured for every process of a deployment. Immutable.
 *
 * @param maxRecordBytes the record budget in bytes, at least {@value #MIN_MAX_RECORD_BYTES}
 */
public record RecordLimits(int maxRecordBytes) {

    public static final String MAX_RECORD_BYTES_CONFIG = "batchagent.max.record.bytes";
    public static final String MAX_RECORD_BYTES_DOC = "The largest record (key, value and headers, uncompressed) "
            + "any stage writes: the producers' max.request.size; topics get this plus framing as max.message.bytes.";
    public static final int DEFAULT_MAX_RECORD_BYTES = 8 * 1024 * 1024;
    public static final int MIN_MAX_RECORD_BYTES = 64 * 1024;
    /** What a topic allows beyond the record budget: batch header and compression framing. */
    public static final int FRAMING_BYTES = 64 * 1024;
    /** What the record budget keeps for the key, the headers and the record framing. */
    public static final int HEADROOM_BYTES = 16 * 1024;

    public static final String COMPRESSION_TYPE = "zstd";

    public RecordLimits {
        if (maxRecordBytes < MIN_MAX_RECORD_BYTES) {
            throw new ConfigException(
                    MAX_RECORD_BYTES_CONFIG, maxRecordBytes, "must be at least " + MIN_MAX_RECORD_BYTES + " bytes");
        }
        if (maxRecordBytes > Integer.MAX_VALUE - FRAMING_BYTES) {
            throw new ConfigException(MAX_RECORD_BYTES_CONFIG, maxRecordBytes, "is too large");
        }
    }

    /** The default budget, {@value #DEFAULT_MAX_RECORD_BYTES} bytes. */
    public static RecordLimits defaults() {
        return new RecordLimits(DEFAULT_MAX_RECORD_BYTES);
    }

    /** The budget {@code config} sets with {@value #MAX_RECORD_BYTES_CONFIG}, or the default. */
    public static RecordLimits from(Map<String, ?> config) {
        Object value = config == null ? null : config.get(MAX_RECORD_BYTES_CONFIG);
        if (value == null || value.toString().isBlank()) {
            return defaults();
        }
        try {
            return new RecordLimits(
                    value instanceof Number number
                            ? number.intValue()
                            : Integer.parseInt(value.toString().trim()));
        } catch (NumberFormatException e) {
            throw new ConfigException(MAX_RECORD_BYTES_CONFIG, value, "must be a number of bytes");
        }
    }

    /** The producers' {@code max.request.size}. */
    public int maxRequestBytes() {
        return maxRecordBytes;
    }

    /** The topics' {@code max.message.bytes}. */
    public int maxMessageBytes() {
        return maxRecordBytes + FRAMING_BYTES;
    }

    /** The largest serialized value a stage may write. */
    public int maxValueBytes() {
        return maxRecordBytes - HEADROOM_BYTES;
    }

    /**
     * A producer configuration under this budget: {@code base}, {@code max.request.size} set to the
     * budget (whatever {@code base} says, so the stages agree with the topics), and
     * {@code compression.type} {@value #COMPRESSION_TYPE} unless {@code base} chooses one.
     */
    public Map<String, Object> producerConfig(Map<String, ?> base) {
        Map<String, Object> config = new HashMap<>(base);
        config.putIfAbsent(ProducerConfig.COMPRESSION_TYPE_CONFIG, COMPRESSION_TYPE);
        config.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, maxRequestBytes());
        return config;
    }

    /** The configuration of a topic created under this budget. */
    public Map<String, String> topicConfig() {
        return Map.of(TopicConfig.MAX_MESSAGE_BYTES_CONFIG, Integer.toString(maxMessageBytes()));
    }

    /**
     * Checks a serialized value against {@link #maxValueBytes()}.
     *
     * @throws OversizedRecordException when it is larger
     */
    public void checkValue(String topic, int valueBytes) {
        if (valueBytes > maxValueBytes()) {
            throw new OversizedRecordException(topic, valueBytes, maxValueBytes());
        }
    }
}
