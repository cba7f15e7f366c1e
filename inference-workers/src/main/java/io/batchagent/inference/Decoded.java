package io.batchagent.inference;

import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * A record value that was decoded, or the raw bytes and the reason it could not be.
 *
 * <p>Lets a consumer loop receive undecodable records as data instead of a poll that throws, while
 * still ordering decoded records by their content.
 *
 * @param value the decoded value, or null when decoding failed
 * @param raw the bytes as read, kept only when decoding failed (for the dead-letter record)
 * @param error why decoding failed, or null
 */
record Decoded<T>(T value, byte[] raw, RuntimeException error) {

    boolean ok() {
        return error == null;
    }

    /**
     * Wraps a deserializer so that it never throws: a failure, or a null value, becomes a
     * {@link Decoded} carrying the bytes and the reason.
     */
    static <T> Deserializer<Decoded<T>> lenient(Deserializer<T> inner) {
        return new Deserializer<>() {
            @Override
            public Decoded<T> deserialize(String topic, byte[] data) {
                return deserialize(topic, null, data);
            }

            @Override
            public Decoded<T> deserialize(String topic, Headers headers, byte[] data) {
                if (data == null) {
                    return new Decoded<>(null, null, new IllegalArgumentException("the record has no value"));
                }
                try {
                    T value =
                            headers == null ? inner.deserialize(topic, data) : inner.deserialize(topic, headers, data);
                    return value == null
                            ? new Decoded<>(null, data, new IllegalArgumentException("the value decoded to null"))
                            : new Decoded<>(value, null, null);
                } catch (RuntimeException e) {
                    return new Decoded<>(null, data, e);
                }
            }
        };
    }
}
