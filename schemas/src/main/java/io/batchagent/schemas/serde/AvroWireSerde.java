package io.batchagent.schemas.serde;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Avro SpecificRecords in the Confluent wire format: byte 0 (magic 0), the schema id as a
 * big-endian int, then Avro binary. Subjects follow the topic-name strategy
 * ({@code <topic>-value}, {@code <topic>-key}).
 *
 * <p>Configuration: {@value EventSerdes#SCHEMA_REGISTRY_URL_CONFIG}; when it is absent, blank or
 * {@code embedded}, ids come from {@link FingerprintSchemaIds} and no registry is needed.
 *
 * <p>Reads with the writer's schema resolved against the reader class's schema, so old records
 * stay readable after compatible evolution. Thread-safe after {@link #configure}.
 *
 * <p>A registry that is unavailable is not a bad record: its {@link RetriableException}
 * ({@link SchemaRegistryUnavailableException}) passes through unwrapped, so that stages retry the record
 * instead of dead-lettering it. Everything else that stops a read or a write is a
 * {@link SerializationException}.
 *
 * @param <T> the record type; {@code null} lets the writer schema name the class
 */
public final class AvroWireSerde<T extends SpecificRecord> implements Serde<T>, Serializer<T>, Deserializer<T> {

    static final byte MAGIC_BYTE = 0;

    static {
        EventSerdes.trustEventClasses();
    }

    private final Class<T> type;
    private volatile SchemaRegistry registry;
    private volatile boolean isKey;
    private final Map<Integer, SpecificDatumReader<T>> readersById = new ConcurrentHashMap<>();

    /** For Kafka's reflective construction: the class is taken from the writer schema. */
    public AvroWireSerde() {
        this(null);
    }

    public AvroWireSerde(Class<T> type) {
        this.type = type;
    }

    /** A serde over a given registry, already configured. */
    public AvroWireSerde(Class<T> type, SchemaRegistry registry) {
        this.type = type;
        this.registry = registry;
    }

    @Override
    public void configure(Map<String, ?> configs, boolean isKey) {
        this.isKey = isKey;
        if (registry == null) {
            this.registry = EventSerdes.registryFor(configs);
        }
    }

    @Override
    public byte[] serialize(String topic, T record) {
        if (record == null) {
            return null;
        }
        SchemaRegistry reg = registry();
        Schema schema = record.getSchema();
        int id = reg.register(topic + (isKey ? "-key" : "-value"), schema);
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream(256);
            out.write(MAGIC_BYTE);
            out.write(ByteBuffer.allocate(4).putInt(id).array());
            BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
            new SpecificDatumWriter<T>(schema).write(record, encoder);
            encoder.flush();
            return out.toByteArray();
        } catch (IOException | RuntimeException e) {
            throw new SerializationException("cannot encode " + schema.getFullName() + " for topic " + topic, e);
        }
    }

    @Override
    public T deserialize(String topic, byte[] data) {
        if (data == null) {
            return null;
        }
        if (data.length < 5 || data[0] != MAGIC_BYTE) {
            throw new SerializationException("record on " + topic + " is not in the Confluent wire format "
                    + "(expected magic byte 0 and a 4-byte schema id; got " + data.length + " bytes)");
        }
        int id = ByteBuffer.wrap(data, 1, 4).getInt();
        try {
            BinaryDecoder decoder = DecoderFactory.get().binaryDecoder(data, 5, data.length - 5, null);
            return readerFor(id).read(null, decoder);
        } catch (RetriableException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new SerializationException(
                    "cannot decode record on " + topic + " with schema id " + id + ": " + e.getMessage(), e);
        }
    }

    private SpecificDatumReader<T> readerFor(int id) {
        SpecificDatumReader<T> known = readersById.get(id);
        if (known != null) {
            return known;
        }
        // Not computeIfAbsent: the registry call may retry for seconds and must not hold the map's lock.
        Schema writer = registry().schemaById(id);
        Schema reader = type != null ? SpecificData.get().getSchema(type) : writer;
        SpecificDatumReader<T> created = new SpecificDatumReader<>(writer, reader, SpecificData.getForSchema(reader));
        SpecificDatumReader<T> raced = readersById.putIfAbsent(id, created);
        return raced != null ? raced : created;
    }

    private SchemaRegistry registry() {
        SchemaRegistry reg = registry;
        if (reg == null) {
            throw new IllegalStateException("AvroWireSerde used before configure()");
        }
        return reg;
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
    public void close() {}
}
