package io.batchagent.schemas.serde;

import io.batchagent.schemas.OversizedRecordException;
import io.batchagent.schemas.RecordLimits;
import java.util.Map;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * A value serde that refuses to serialize a value over {@link RecordLimits#maxValueBytes()}: it
 * throws {@link OversizedRecordException} instead, before the bytes reach a producer or a state store.
 * Refusing at serialization keeps an exactly-once transaction usable (a producer that rejects a record
 * as too large poisons its transaction) and lets Kafka Streams hand the record to its production or
 * processing exception handler. Reading is the inner serde's, unchanged. Thread-safe if the inner
 * serde is.
 */
final class BoundedSerde<T> implements Serde<T>, Serializer<T>, Deserializer<T> {

    private final Serde<T> inner;
    private final RecordLimits limits;

    BoundedSerde(Serde<T> inner, RecordLimits limits) {
        this.inner = inner;
        this.limits = limits;
    }

    @Override
    public void configure(Map<String, ?> configs, boolean isKey) {
        inner.configure(configs, isKey);
    }

    @Override
    public byte[] serialize(String topic, T data) {
        return checked(topic, inner.serializer().serialize(topic, data));
    }

    @Override
    public byte[] serialize(String topic, Headers headers, T data) {
        return checked(topic, inner.serializer().serialize(topic, headers, data));
    }

    private byte[] checked(String topic, byte[] bytes) {
        if (bytes != null) {
            limits.checkValue(topic, bytes.length);
        }
        return bytes;
    }

    @Override
    public T deserialize(String topic, byte[] data) {
        return inner.deserializer().deserialize(topic, data);
    }

    @Override
    public T deserialize(String topic, Headers headers, byte[] data) {
        return inner.deserializer().deserialize(topic, headers, data);
    }

    @Override
    public Serializer<T> serializer() {
        return this;
    }

    @Override
    public Deserializer<T> deserializer() {
        return this;
    }

    @Override
    public void close() {
        inner.close();
    }
}
