package io.batchagent.topology;

import io.batchagent.schemas.Topics;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.kstream.Consumed;

/**
 * Source settings for a topic whose records are never deleted (every catalogue topic but the compacted
 * {@code batch-specs} and {@code results}): a record with no value there is not a delete but a bad
 * record, so its value fails to decode and {@link DeadLetterHandler} dead-letters it, failing the job its
 * key names. Without this, Kafka Streams passes the null on and the processors skip it silently.
 */
final class StrictValues {

    private StrictValues() {}

    /** {@link Consumed} for {@code topic} with its key serde and a value serde that refuses a tombstone. */
    static <V> Consumed<String, V> consumed(Topics.Topic<String, V> topic) {
        return Consumed.with(topic.keySerde(), topic.compacted() ? topic.valueSerde() : refusingNull(topic));
    }

    private static <V> Serde<V> refusingNull(Topics.Topic<String, V> topic) {
        Deserializer<V> decode = topic.valueSerde().deserializer();
        Deserializer<V> strict = new Deserializer<>() {
            @Override
            public V deserialize(String name, byte[] data) {
                return decode.deserialize(name, require(name, data));
            }

            @Override
            public V deserialize(String name, Headers headers, byte[] data) {
                return decode.deserialize(name, headers, require(name, data));
            }
        };
        return Serdes.serdeFrom(topic.valueSerde().serializer(), strict);
    }

    private static byte[] require(String topic, byte[] data) {
        if (data == null) {
            throw new SerializationException(
                    "the record has no value (a tombstone); records on " + topic + " are never deleted");
        }
        return data;
    }
}
