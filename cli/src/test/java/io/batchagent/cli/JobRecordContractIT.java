package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.InProcessSchemaRegistry;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * The job-record contract (docs/job-records.md) as an application that is not BatchAgent's would
 * follow it: the schemas parsed from the {@code .avsc} files, registered over HTTP, records written
 * with a plain {@code KafkaProducer} and Avro {@link GenericRecord}s ({@link PlainJobs}), results read with a plain
 * consumer and the writer's schema fetched by id. No BatchAgent class is used on the client side;
 * the workers run with the same registry.
 */
@WithKafka
class JobRecordContractIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path stateDir;

    @Test
    @SuppressWarnings("try") // the workers run for the test's length; it does not call them
    void shouldRunJobsProducedWithAPlainProducerAndReturnResultsReadableWithAPlainConsumer(
            KafkaCluster kafka, TestInfo info) throws Exception {
        TestNames names = TestNames.of(info);
        String prefix = names.topicPrefix();
        try (InProcessSchemaRegistry registry = InProcessSchemaRegistry.start();
                PipelineFixture ignored = PipelineFixture.start(
                        kafka,
                        names,
                        stateDir,
                        SimulatorOptions.builder().profile("instant"),
                        c -> c.withSerdeConfig(Map.of("schema.registry.url", registry.url())))) {
            String batchId = "plain-batch";
            PlainJobs.produce(
                    kafka.bootstrapServers(),
                    prefix,
                    batchId,
                    3,
                    (subject, schema) -> register(registry.url(), subject, schema));

            Map<String, GenericRecord> results = readResults(kafka, prefix + "results", registry.url(), batchId, 3);

            assertThat(results).containsOnlyKeys("plain-batch-0", "plain-batch-1", "plain-batch-2");
            assertThat(results.values()).allSatisfy(result -> {
                assertThat(result.get("status")).hasToString("SUCCEEDED");
                assertThat(JSON.readTree(result.get("outputJson").toString())
                                .path("answer")
                                .isTextual())
                        .isTrue();
            });
            assertThat(results.values()).extracting(r -> (Long) r.get("index")).containsExactlyInAnyOrder(0L, 1L, 2L);
        }
    }

    /** {@code POST /subjects/{subject}/versions}: the id the registry gives the schema. */
    private static int register(String registry, String subject, Schema schema) {
        String body = JSON.createObjectNode().put("schema", schema.toString()).toString();
        HttpResponse<String> response =
                send(HttpRequest.newBuilder(URI.create(registry + "/subjects/" + subject + "/versions"))
                        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        try {
            return JSON.readTree(response.body()).path("id").asInt();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Reads {@code topic} from the start until {@code expected} jobs of {@code batchId} have a result; latest per job. */
    private static Map<String, GenericRecord> readResults(
            KafkaCluster kafka, String topic, String registry, String batchId, int expected) throws Exception {
        Map<Integer, Schema> schemas = new HashMap<>();
        Map<String, GenericRecord> results = new HashMap<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(
                Map.of(
                        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                        kafka.bootstrapServers(),
                        ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                        "read_committed"),
                new StringDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                    .map(p -> new TopicPartition(topic, p.partition()))
                    .toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (results.size() < expected && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    ByteBuffer value = ByteBuffer.wrap(record.value());
                    assertThat(value.get()).isZero();
                    int id = value.getInt();
                    Schema writer = schemas.computeIfAbsent(id, i -> schemaById(registry, i));
                    GenericRecord result = new GenericDatumReader<GenericRecord>(writer, writer, GenericData.get())
                            .read(
                                    null,
                                    DecoderFactory.get()
                                            .binaryDecoder(record.value(), 5, record.value().length - 5, null));
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
        HttpResponse<String> response = send(HttpRequest.newBuilder(URI.create(registry + "/schemas/ids/" + id))
                .GET()
                .build());
        try {
            return new Schema.Parser()
                    .parse(JSON.readTree(response.body()).path("schema").asText());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static HttpResponse<String> send(HttpRequest request) {
        try {
            return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
