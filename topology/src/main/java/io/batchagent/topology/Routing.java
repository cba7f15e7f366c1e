package io.batchagent.topology;

import io.batchagent.schemas.JobHeaders;
import io.batchagent.schemas.Topics.Topic;
import java.util.Map;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.BranchedKStream;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.ValueAndTimestamp;

/** Small DSL helpers shared by the topologies: routing mixed outcomes to their topics, reading specs. */
final class Routing {

    private Routing() {}

    /**
     * Adds a branch that sends the records of {@code type} to {@code topic}, with {@link JobHeaders} naming
     * the job and batch each is about.
     */
    static <V extends SpecificRecord> BranchedKStream<String, SpecificRecord> branchTo(
            BranchedKStream<String, SpecificRecord> split, String name, Class<V> type, Topic<String, V> topic) {
        return split.branch(
                (key, value) -> type.isInstance(value),
                Branched.withConsumer(
                        (KStream<String, SpecificRecord> s) -> s.mapValues(
                                        type::cast, Named.as(name + "-as-" + type.getSimpleName()))
                                .processValues(
                                        StampJobHeaders::new, Named.as(name + "-headers-" + type.getSimpleName()))
                                .to(
                                        topic.name(),
                                        Produced.with(topic.keySerde(), topic.valueSerde())
                                                .withName(name + "-to-" + topic.name())),
                        "-" + type.getSimpleName()));
    }

    /** Copies the record's headers (they may be shared with other outputs of the same input) and stamps them. */
    private static final class StampJobHeaders<V> implements FixedKeyProcessor<String, V, V> {
        private FixedKeyProcessorContext<String, V> context;

        @Override
        public void init(FixedKeyProcessorContext<String, V> context) {
            this.context = context;
        }

        @Override
        public void process(FixedKeyRecord<String, V> record) {
            Headers headers =
                    JobHeaders.stamp(new RecordHeaders(record.headers().toArray()), record.value());
            context.forward(record.withHeaders(headers));
        }
    }

    /** Starts a split of a stream of mixed outcomes, to be followed by {@link #branchTo} calls. */
    static BranchedKStream<String, SpecificRecord> split(KStream<String, SpecificRecord> outcomes, String name) {
        return outcomes.split(Named.as(name));
    }

    /** Reads a value from a key-value store that may be timestamped (global tables are). */
    @SuppressWarnings("unchecked")
    static <V> V lookup(KeyValueStore<String, ?> store, String key) {
        Object value = store.get(key);
        if (value instanceof ValueAndTimestamp<?> timestamped) {
            return (V) timestamped.value();
        }
        return (V) value;
    }

    /** The store named {@code name}, as an untyped key-value store. */
    static KeyValueStore<String, ?> store(ProcessorContext<?, ?> context, String name) {
        return context.getStateStore(name);
    }

    static <K, V> Map<K, V> lru(int capacity) {
        return new java.util.LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<K, V> eldest) {
                return size() > capacity;
            }
        };
    }
}
