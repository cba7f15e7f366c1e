package io.batchagent.cli;

import io.batchagent.schemas.ProducerSettings;
import io.batchagent.schemas.RecordLimits;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.BiFunction;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * A batch produced as docs/job-records.md tells an application that is not BatchAgent's: schemas parsed
 * from the {@code .avsc} files, Avro {@link GenericRecord}s in the Confluent wire format, a plain
 * {@link KafkaProducer}. Uses no BatchAgent class.
 */
final class PlainJobs {

    static final Path AVRO = Path.of("..", "schemas", "src", "main", "avro");
    static final String SCHEMA = "{\"type\":\"object\",\"properties\":{\"answer\":{\"type\":\"string\"},"
            + "\"topic\":{\"type\":\"string\"}},\"required\":[\"answer\",\"topic\"]}";

    private PlainJobs() {}

    /**
     * Produces a spec for {@code jobs} jobs of {@code batchId}, then the jobs, to the topics under
     * {@code prefix}; {@code schemaId} gives the id of a schema for a subject (a registry's, or the
     * fingerprint id when the workers run without one).
     */
    static void produce(
            String bootstrap, String prefix, String batchId, int jobs, BiFunction<String, Schema, Integer> schemaId)
            throws Exception {
        Schema.Parser parser = new Schema.Parser();
        parser.parse(AVRO.resolve("common/ToolSpec.avsc").toFile());
        parser.parse(AVRO.resolve("common/Compaction.avsc").toFile()); // CompactionMode, named by BatchSpec
        Schema specSchema = parser.parse(AVRO.resolve("BatchSpec.avsc").toFile());
        Schema jobSchema =
                new Schema.Parser().parse(AVRO.resolve("AgentJob.avsc").toFile());
        int specId = schemaId.apply(prefix + "batch-specs-value", specSchema);
        int jobId = schemaId.apply(prefix + "agent-jobs-value", jobSchema);
        long now = System.currentTimeMillis();
        GenericRecord spec = new GenericRecordBuilder(specSchema)
                .set("batchId", batchId)
                .set("model", "sim-model")
                .set("systemPrompt", "You are a test agent.")
                .set("taskTemplate", "Topic: {topic}\nQuery: {query}")
                .set("outputSchemaJson", SCHEMA)
                .set("maxTurns", 3)
                .set("maxTokens", 256)
                .set("expectedJobs", (long) jobs)
                .set("createdAtMs", now)
                .build();
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(
                ProducerSettings.durable(
                        Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap), RecordLimits.defaults()),
                new StringSerializer(),
                new ByteArraySerializer())) {
            producer.send(record(prefix + "batch-specs", batchId, null, batchId, wire(specId, spec)))
                    .get();
            for (int i = 0; i < jobs; i++) {
                String job = batchId + "-" + i;
                GenericRecord agentJob = new GenericRecordBuilder(jobSchema)
                        .set("jobId", job)
                        .set("batchId", batchId)
                        .set("index", (long) i)
                        .set("inputJson", "{\"topic\":\"t" + i + "\",\"query\":\"q" + i + "\"}")
                        .set("submittedAtMs", now)
                        .set("attempt", 1)
                        .build();
                producer.send(record(prefix + "agent-jobs", job, job, batchId, wire(jobId, agentJob)))
                        .get();
            }
        }
    }

    private static ProducerRecord<String, byte[]> record(
            String topic, String key, String job, String batch, byte[] value) {
        ProducerRecord<String, byte[]> record = new ProducerRecord<>(topic, key, value);
        if (job != null) {
            record.headers().add("batchagent.job-id", job.getBytes(StandardCharsets.UTF_8));
        }
        record.headers().add("batchagent.batch-id", batch.getBytes(StandardCharsets.UTF_8));
        return record;
    }

    /** The Confluent wire format: magic byte 0, the schema id (4 bytes, big-endian), the Avro binary. */
    private static byte[] wire(int schemaId, GenericRecord record) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        bytes.write(0);
        bytes.write(ByteBuffer.allocate(4).putInt(schemaId).array());
        BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(bytes, null);
        new GenericDatumWriter<GenericRecord>(record.getSchema()).write(record, encoder);
        encoder.flush();
        return bytes.toByteArray();
    }
}
