package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.InProcessSchemaRegistry;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * The job-record contract (docs/job-records.md) as an application that is not BatchAgent's would
 * follow it: the schemas parsed from the {@code .avsc} files, registered over HTTP, records written
 * with a plain {@link KafkaProducer} and Avro {@link GenericRecord}s, results read with a plain
 * consumer and the writer's schema fetched by id. No BatchAgent class is used on the client side;
 * the workers run with the same registry.
 */
@WithKafka
class JobRecordContractIT {

    private static final Path AVRO = Path.of("..", "schemas", "src", "main", "avro");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path stateDir;

    @Test
    void shouldRunJobsProducedWithAPlainProducerAndReturnResultsReadableWithAPlainConsumer(KafkaCluster kafka, TestInfo info)
            throws Exception {
        TestNames names = TestNames.of(info);
        String prefix = names.topicPrefix();
        try (InProcessSchemaRegistry registry = InProcessSchemaRegistry.start();
             PipelineFixture ignored = PipelineFixture.start(kafka, names, stateDir, SimulatorOptions.builder().profile("instant"),
                     c -> c.withSerdeConfig(Map.of("schema.registry.url", registry.url())))) {
            Schema.Parser parser = new Schema.Parser();
            parser.parse(AVRO.resolve("common/ToolSpec.avsc").toFile());
            Schema specSchema = parser.parse(AVRO.resolve("BatchSpec.avsc").toFile());
            Schema jobSchema = new Schema.Parser().parse(AVRO.resolve("AgentJob.avsc").toFile());
            int specId = register(registry.url(), prefix + "batch-specs-value", specSchema);
            int jobId = register(registry.url(), prefix + "agent-jobs-value", jobSchema);
            String batchId = "plain-batch";
            long now = System.currentTimeMillis();
            GenericRecord spec = new GenericRecordBuilder(specSchema)
                    .set("batchId", batchId).set("model", "sim-model").set("systemPrompt", "You are a test agent.")
                    .set("taskTemplate", "Topic: {topic}\nQuery: {query}").set("outputSchemaJson", PipelineFixture.SCHEMA)
                    .set("maxTurns", 3).set("maxTokens", 256).set("expectedJobs", 3L).set("createdAtMs", now).build();

            try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(Map.of(
                    ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all"),
                    new StringSerializer(), new ByteArraySerializer())) {
                producer.send(record(prefix + "batch-specs", batchId, null, batchId, wire(specId, spec))).get();
                for (int i = 0; i < 3; i++) {
                    String job = batchId + "-" + i;
                    GenericRecord agentJob = new GenericRecordBuilder(jobSchema)
                            .set("jobId", job).set("batchId", batchId).set("index", (long) i)
                            .set("inputJson", "{\"topic\":\"t" + i + "\",\"query\":\"q" + i + "\"}")
                            .set("submittedAtMs", now).set("attempt", 1).build();
                    producer.send(record(prefix + "agent-jobs", job, job, batchId, wire(jobId, agentJob))).get();
                }
            }

            Map<String, GenericRecord> results = readResults(kafka, prefix + "results", registry.url(), batchId, 3);

            assertThat(results).containsOnlyKeys("plain-batch-0", "plain-batch-1", "plain-batch-2");
            assertThat(results.values()).allSatisfy(result -> {
                assertThat(result.get("status")).hasToString("SUCCEEDED");
                assertThat(JSON.readTree(result.get("outputJson").toString()).path("answer").isTextual()).isTrue();
            });
            assertThat(results.values()).extracting(r -> (Long) r.get("index")).containsExactlyInAnyOrder(0L, 1L, 2L);
        }
    }

    private static ProducerRecord<String, byte[]> record(String topic, String key, String job, String batch, byte[] value) {
        ProducerRecord<String, byte[]> record = new ProducerRecord<>(topic, key, value);
        if (job != null) {
            record.headers().add("batchagent.job-id", job.getBytes(StandardCharsets.UTF_8));
        }
        record.headers().add("batchagent.batch-id", batch.getBytes(StandardCharsets.UTF_8));
        return record;
    }

    /** {@code POST /subjects/{subject}/versions}: the id the registry gives the schema. */
    private static int register(String registry, String subject, Schema schema) throws IOException, InterruptedException {
        String body = JSON.createObjectNode().put("schema", schema.toString()).toString();
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(registry + "/subjects/" + subject + "/versions"))
                .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body()).path("id").asInt();
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

    /** Reads {@code topic} from the start until {@code expected} jobs of {@code batchId} have a result; latest per job. */
    private static Map<String, GenericRecord> readResults(KafkaCluster kafka, String topic, String registry, String batchId,
                                                          int expected) throws Exception {
        Map<Integer, Schema> schemas = new HashMap<>();
        Map<String, GenericRecord> results = new HashMap<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"), new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                    .map(p -> new TopicPartition(topic, p.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (results.size() < expected && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    ByteBuffer value = ByteBuffer.wrap(record.value());
                    assertThat(value.get()).isZero();
                    int id = value.getInt();
                    Schema writer = schemas.computeIfAbsent(id, i -> schemaById(registry, i));
                    GenericRecord result = new GenericDatumReader<GenericRecord>(writer, writer, GenericData.get()).read(null,
                            DecoderFactory.get().binaryDecoder(record.value(), 5, record.value().length - 5, null));
                    if (batchId.equals(result.get("batchId").toString())) {
                        results.put(record.key(), result);
                    }
                }
            }
        }
        return results;
    }

    /** {@code GET /schemas/ids/{id}}: the writer's schema. */
    private static Schema schemaById(String registry, int id) {
        try {
            HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(registry + "/schemas/ids/" + id)).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            JsonNode body = JSON.readTree(response.body());
            return new Schema.Parser().parse(body.path("schema").asText());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
