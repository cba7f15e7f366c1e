package io.batchagent.connectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.cli.BatchRunner;
import io.batchagent.cli.BatchSummary;
import io.batchagent.client.BatchDefinition;
import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import io.batchagent.events.Timings;
import io.batchagent.events.Usage;
import io.batchagent.schemas.serde.RestSchemaRegistry;
import io.batchagent.testkit.InProcessSchemaRegistry;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import io.batchagent.tools.ToolDeclarations;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.iceberg.CatalogProperties;
import org.apache.iceberg.Table;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.data.IcebergGenerics;
import org.apache.iceberg.data.Record;
import org.apache.iceberg.io.CloseableIterable;
import org.apache.iceberg.jdbc.JdbcCatalog;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * BatchAgent's results through real Kafka Connect sinks: a Connect worker in its own process (standalone mode,
 * the plugin folders of connectors/target/plugins, the shipped connector configs) with the Debezium JDBC sink into
 * PostgreSQL and the Apache Iceberg sink (JDBC catalog on PostgreSQL, S3FileIO on s3proxy in its own process),
 * both reading Avro through Apicurio's converter from BatchAgent's registry stand-in.
 *
 * <p>Needs the PostgreSQL of the development machines (127.0.0.1:5432, database {@code test}, trust auth).
 */
@WithKafka
class ResultSinksIT {

    private static final String JDBC_URL = "jdbc:postgresql://127.0.0.1:5432/test";
    private static final String JDBC_USER = "postgres";
    private static final String CATALOG = "batchagent";
    private static final String WAREHOUSE = "s3://" + S3Proxy.BUCKET + "/warehouse";
    private static final Path RESEARCH = Path.of("..", "..", "examples", "research");
    private static final Duration SINK_TIMEOUT = Duration.ofMinutes(3);

    @TempDir
    static Path workDir;

    private static InProcessSchemaRegistry registry;
    private static S3Proxy s3;
    private static ConnectWorker connect;

    private TestNames names;
    private String table;
    private final List<String> connectors = new ArrayList<>();

    @BeforeAll
    static void startWorker(KafkaCluster kafka) throws IOException {
        registry = InProcessSchemaRegistry.start();
        s3 = S3Proxy.start(workDir);
        connect = ConnectWorker.start(
                kafka.bootstrapServers(),
                workDir,
                Map.of(
                        "JDBC_URL",
                        JDBC_URL,
                        "JDBC_USER",
                        JDBC_USER,
                        "JDBC_PASSWORD",
                        "",
                        "S3_ENDPOINT",
                        s3.endpoint(),
                        "S3_WAREHOUSE",
                        WAREHOUSE,
                        "AWS_ACCESS_KEY_ID",
                        S3Proxy.ACCESS_KEY,
                        "AWS_SECRET_ACCESS_KEY",
                        S3Proxy.SECRET_KEY,
                        "AWS_REGION",
                        S3Proxy.REGION,
                        "APICURIO_REGISTRY_URL",
                        registry.url(),
                        "BATCHAGENT_OUTPUT_SCHEMA",
                        Files.readString(RESEARCH.resolve("schema.json"))));
    }

    @AfterAll
    static void stopWorker() {
        if (connect != null) {
            connect.close();
        }
        if (s3 != null) {
            s3.close();
        }
        if (registry != null) {
            registry.close();
        }
    }

    @BeforeEach
    void names(TestInfo testInfo) {
        names = TestNames.of(testInfo);
        // PostgreSQL cuts names at 63 characters, and Debezium would then look for the uncut one.
        table = "results_it_" + names.name().substring(names.name().lastIndexOf('-') + 1);
    }

    @AfterEach
    void dropSinks() throws Exception {
        for (String connector : connectors) {
            connect.deleteConnector(connector);
        }
        try (Connection db = postgres();
                Statement statement = db.createStatement()) {
            statement.execute("DROP VIEW IF EXISTS " + table + "_summary");
            statement.execute("DROP TABLE IF EXISTS " + table);
        }
        try (JdbcCatalog catalog = icebergCatalog()) {
            catalog.dropTable(icebergTable(), true);
        }
    }

    @Test
    void shouldHoldEachJobsLatestResultInPostgresAndEveryResultInIcebergOnS3(KafkaCluster kafka) throws Exception {
        // Given both sinks on the results topic of a batch run in the embedded default (fingerprint schema ids)
        addSinks(kafka);
        List<String> inputs = IntStream.range(0, 50)
                .mapToObj(i -> "{\"paper_id\": \"p-" + i + "\", \"title\": \"Paper " + i + "\", \"topic\": \"topic "
                        + (i % 5) + "\"}")
                .toList();

        // When the batch runs with one turn (every job fails after its tool turn), then is retried with three
        BatchSummary first = runBatch(kafka, inputs, 1, false);
        assertThat(first.results())
                .hasSize(50)
                .allSatisfy(r -> assertThat(r.getStatus()).isEqualTo(JobStatus.FAILED));
        awaitSunk("PostgreSQL holds the 50 failed jobs", () -> countRows("status = 'FAILED' AND attempt = 1") == 50);
        BatchSummary retried = runBatch(kafka, inputs, 3, true);

        // Then PostgreSQL holds one row per job, with its latest (retried) result and typed output columns
        assertThat(retried.results())
                .hasSize(50)
                .allSatisfy(r -> assertThat(r.getStatus()).isEqualTo(JobStatus.SUCCEEDED));
        awaitSunk(
                "PostgreSQL holds the 50 retried jobs", () -> countRows("status = 'SUCCEEDED' AND attempt = 2") == 50);
        assertThat(countRows("true")).isEqualTo(50);
        try (Connection db = postgres();
                Statement statement = db.createStatement();
                ResultSet row = statement.executeQuery("SELECT * FROM " + table + " WHERE output_paper_id = 'p-7'")) {
            assertThat(row.next()).isTrue();
            assertThat(row.getString("job_id"))
                    .isEqualTo(retried.results().get(7).getJobId());
            assertThat(row.getString("batch_id")).isEqualTo(retried.batchId());
            assertThat(row.getLong("job_index")).isEqualTo(7);
            assertThat(row.getString("output_title")).isEqualTo("Paper 7");
            assertThat(row.getMetaData().getColumnTypeName(row.findColumn("output_sources_used")))
                    .isEqualTo("int8");
            assertThat(row.getObject("error_reason")).isNull();
            assertThat(row.getLong("usage_prompt_tokens")).isPositive();
            assertThat(row.getTimestamp("finished_at")).isNotNull();
        }

        // And the shipped batch summary view, over this test's table, sums the batch up from the latest rows
        String summarySql = Files.readString(ConnectWorker.CONNECTORS.resolve("config/sql/postgres-batch-summary.sql"))
                .replace("batchagent_batch_summary", table + "_summary")
                .replace("batchagent_results", table);
        try (Connection db = postgres();
                Statement statement = db.createStatement()) {
            statement.execute(summarySql);
            try (ResultSet summary = statement.executeQuery("SELECT * FROM " + table + "_summary")) {
                assertThat(summary.next()).isTrue();
                assertThat(summary.getString("batch_id")).isEqualTo(retried.batchId());
                assertThat(summary.getInt("jobs")).isEqualTo(50);
                assertThat(summary.getInt("succeeded")).isEqualTo(50);
                assertThat(summary.getInt("failed")).isZero();
                assertThat(summary.getInt("max_attempt")).isEqualTo(2);
                assertThat(summary.getLong("prompt_tokens"))
                        .isEqualTo(retried.results().stream()
                                .mapToLong(r -> r.getUsage().getPromptTokens())
                                .sum());
                assertThat(summary.next()).isFalse();
            }
        }

        // And the Iceberg table, read with Iceberg's own reader through the JDBC catalog, holds every result record
        List<String> expected = new ArrayList<>();
        first.results().forEach(r -> expected.add(r.getJobId() + "/" + r.getAttempt() + "/" + r.getStatus()));
        retried.results().forEach(r -> expected.add(r.getJobId() + "/" + r.getAttempt() + "/" + r.getStatus()));
        awaitSunk("Iceberg holds all 100 result records", () -> icebergRows().size() >= 100);
        List<Record> rows = icebergRows();
        // (a record a stage replayed may repeat: history keeps it, so compare the distinct records)
        assertThat(rows)
                .extracting(r -> r.getField("job_id") + "/" + r.getField("attempt") + "/" + r.getField("status"))
                .hasSameElementsAs(expected);
        Map<Object, Record> latest = new HashMap<>();
        rows.forEach(r -> latest.merge(
                r.getField("job_id"),
                r,
                (a, b) -> (Integer) a.getField("attempt") >= (Integer) b.getField("attempt") ? a : b));
        assertThat(latest).hasSize(50);
        assertThat(latest.values())
                .allSatisfy(r -> assertThat(r.getField("status")).isEqualTo("SUCCEEDED"));

        // And S3 holds the table's Parquet files, and the converter read the schemas through the registry's routes
        assertThat(s3.keys("warehouse/")).anyMatch(key -> key.endsWith(".parquet"));
        assertThat(registry.contentByIdCalls()).isPositive();
    }

    @Test
    void shouldAddAColumnForAFieldNewToAgentResultInBothSinks(KafkaCluster kafka) throws Exception {
        // Given both sinks with rows written by today's AgentResult schema
        addSinks(kafka);
        String topic = names.topicPrefix() + "results";
        kafka.admin()
                .createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic(topic, 1, (short) 1)))
                .all()
                .get();
        RestSchemaRegistry client = new RestSchemaRegistry(registry.url());
        Schema today = AgentResult.getClassSchema();
        Schema evolved = withCostField(today);
        int todayId = client.register(topic + "-value", today);
        int evolvedId = client.register(topic + "-value", evolved);
        AgentResult old = result("job-old");
        produce(kafka, topic, "job-old", todayId, encode(old));
        awaitSunk("PostgreSQL holds the first row", () -> countRows("true") == 1);

        // When a result written with a newer AgentResult, which has a cost field, arrives
        GenericRecord newer = asEvolved(result("job-new"), today, evolved);
        newer.put("costUsd", 0.25);
        produce(kafka, topic, "job-new", evolvedId, encode(newer, evolved));

        // Then both sinks add a cost_usd column instead of failing, and keep running
        awaitSunk("PostgreSQL has the new column's value", () -> countRows("cost_usd = 0.25") == 1);
        assertThat(countRows("cost_usd IS NULL")).isEqualTo(1);
        awaitSunk("Iceberg holds both records", () -> icebergRows().size() == 2);
        try (JdbcCatalog catalog = icebergCatalog()) {
            assertThat(catalog.loadTable(icebergTable()).schema().findField("cost_usd"))
                    .isNotNull();
        }
        assertThat(icebergRows()).extracting(r -> r.getField("cost_usd")).containsExactlyInAnyOrder(null, 0.25);
        for (String connector : connectors) {
            assertThat(connect.status(connector)).isEqualTo("RUNNING [RUNNING]");
        }
    }

    /** Starts both shipped sinks on this test's results topic, table and control topic. */
    private void addSinks(KafkaCluster kafka) throws Exception {
        String controlTopic = names.topicPrefix() + "iceberg-control";
        ControlTopic.create(kafka.admin(), controlTopic);
        ObjectNode jdbc = ConnectWorker.shippedConfig("results-jdbc.json");
        ((ObjectNode) jdbc.get("config"))
                .put("topics", names.topicPrefix() + "results")
                .put("collection.name.format", table);
        ObjectNode iceberg = ConnectWorker.shippedConfig("results-iceberg.json");
        ((ObjectNode) iceberg.get("config"))
                .put("topics", names.topicPrefix() + "results")
                .put("iceberg.tables", CATALOG + "." + table)
                .put("iceberg.control.topic", controlTopic)
                .put("iceberg.control.commit.interval-ms", "1000");
        for (ObjectNode connector : List.of(jdbc, iceberg)) {
            String name = names.name() + "-" + connector.get("name").asText();
            connectors.add(name);
            connect.putConnector(name, connector.get("config"));
        }
    }

    private BatchSummary runBatch(KafkaCluster kafka, List<String> inputs, int maxTurns, boolean retryFailed)
            throws Exception {
        BatchDefinition definition = new BatchDefinition(
                Files.readString(RESEARCH.resolve("system.txt")),
                Files.readString(RESEARCH.resolve("task.txt")),
                inputs,
                ToolDeclarations.read(RESEARCH.resolve("tools.json")),
                BatchDefinition.readSchema(RESEARCH.resolve("schema.json")),
                "sim-model",
                maxTurns,
                512);
        BatchRunner.Settings settings = new BatchRunner.Settings(
                kafka.bootstrapServers(),
                workDir.resolve("batch"),
                "sim://instant",
                null,
                null,
                "sinks",
                16,
                Map.of("sim_search.latency.ms", "10"),
                names.topicPrefix(),
                Duration.ofMinutes(3),
                retryFailed,
                null,
                Map.of(),
                true,
                null,
                null,
                null);
        return BatchRunner.run(settings, definition, result -> {});
    }

    private void awaitSunk(String what, Callable<Boolean> condition) {
        await(what)
                .atMost(SINK_TIMEOUT)
                .pollInterval(Duration.ofSeconds(1))
                .ignoreExceptions()
                .failFast("a sink failed", () -> connectors.stream().anyMatch(this::failed))
                .until(condition);
    }

    private boolean failed(String connector) {
        try {
            String status = connect.status(connector);
            if (status.contains("FAILED")) {
                throw new AssertionError(connector + ": " + status + "\n" + connect.logTail());
            }
            return false;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    private int countRows(String where) throws SQLException {
        try (Connection db = postgres();
                Statement statement = db.createStatement();
                ResultSet count = statement.executeQuery("SELECT count(*) FROM " + table + " WHERE " + where)) {
            count.next();
            return count.getInt(1);
        }
    }

    private static Connection postgres() throws SQLException {
        return DriverManager.getConnection(JDBC_URL, JDBC_USER, "");
    }

    private TableIdentifier icebergTable() {
        return TableIdentifier.of(CATALOG, table);
    }

    private List<Record> icebergRows() throws Exception {
        try (JdbcCatalog catalog = icebergCatalog()) {
            Table loaded = catalog.loadTable(icebergTable());
            List<Record> rows = new ArrayList<>();
            try (CloseableIterable<Record> records =
                    IcebergGenerics.read(loaded).build()) {
                records.forEach(record -> rows.add(record.copy()));
            }
            return rows;
        }
    }

    /** The sink's catalog, by the same name ({@code iceberg.catalog}): the name is part of the JDBC catalog's key. */
    private static JdbcCatalog icebergCatalog() {
        Map<String, String> properties = new HashMap<>();
        properties.put(CatalogProperties.URI, JDBC_URL);
        properties.put("jdbc.user", JDBC_USER);
        properties.put("jdbc.password", "");
        properties.put(CatalogProperties.WAREHOUSE_LOCATION, WAREHOUSE);
        properties.put(CatalogProperties.FILE_IO_IMPL, "org.apache.iceberg.aws.s3.S3FileIO");
        properties.put("s3.endpoint", s3.endpoint());
        properties.put("s3.path-style-access", "true");
        properties.put("s3.access-key-id", S3Proxy.ACCESS_KEY);
        properties.put("s3.secret-access-key", S3Proxy.SECRET_KEY);
        properties.put("client.region", S3Proxy.REGION);
        JdbcCatalog catalog = new JdbcCatalog();
        catalog.initialize(CATALOG, properties);
        return catalog;
    }

    private static AgentResult result(String jobId) {
        return AgentResult.newBuilder()
                .setJobId(jobId)
                .setBatchId("evolution")
                .setIndex(0)
                .setStatus(JobStatus.SUCCEEDED)
                .setOutputJson("{\"paper_id\":\"" + jobId + "\"}")
                .setTurns(1)
                .setUsage(Usage.newBuilder().build())
                .setTimings(Timings.newBuilder().build())
                .setFinishedAtMs(System.currentTimeMillis())
                .build();
    }

    private static Schema withCostField(Schema schema) {
        String json = schema.toString();
        String field = ",{\"name\":\"costUsd\",\"type\":\"double\",\"default\":0.0}";
        int end = json.lastIndexOf("]");
        return new Schema.Parser().parse(json.substring(0, end) + field + json.substring(end));
    }

    private static GenericRecord asEvolved(AgentResult result, Schema today, Schema evolved) throws IOException {
        byte[] bytes = encode(result);
        return new GenericDatumReader<GenericRecord>(today, evolved)
                .read(null, DecoderFactory.get().binaryDecoder(bytes, null));
    }

    private static byte[] encode(AgentResult result) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
        new SpecificDatumWriter<>(AgentResult.class).write(result, encoder);
        encoder.flush();
        return out.toByteArray();
    }

    private static byte[] encode(GenericRecord record, Schema schema) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
        new GenericDatumWriter<GenericRecord>(schema, GenericData.get()).write(record, encoder);
        encoder.flush();
        return out.toByteArray();
    }

    /** Confluent wire format: magic byte 0, the schema id, then the Avro binary. */
    private static void produce(KafkaCluster kafka, String topic, String key, int schemaId, byte[] avro)
            throws Exception {
        byte[] value = ByteBuffer.allocate(5 + avro.length)
                .put((byte) 0)
                .putInt(schemaId)
                .put(avro)
                .array();
        Map<String, Object> config = new HashMap<>(kafka.clientConfig());
        try (KafkaProducer<String, byte[]> producer =
                new KafkaProducer<>(config, new StringSerializer(), new ByteArraySerializer())) {
            producer.send(new ProducerRecord<>(topic, key, value)).get();
        }
    }
}
