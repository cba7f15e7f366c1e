package io.batchagent.connectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Date;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaBuilder;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.data.Timestamp;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.sink.SinkRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link ResultRow} on AgentResult structs shaped as an Avro converter hands them to a sink. */
class ResultRowTest {

    private static final Schema ERROR = SchemaBuilder.struct()
            .name("io.batchagent.events.JobError")
            .optional()
            .field("reason", Schema.STRING_SCHEMA)
            .field("message", Schema.STRING_SCHEMA)
            .build();
    private static final Schema USAGE = SchemaBuilder.struct()
            .name("io.batchagent.events.Usage")
            .field("promptTokens", Schema.INT64_SCHEMA)
            .field("cachedPromptTokens", Schema.INT64_SCHEMA)
            .build();
    private static final Schema RESULT = resultSchema(SchemaBuilder.struct().name("io.batchagent.events.AgentResult"));
    private static final String OUTPUT_SCHEMA = """
            {"type": "object", "properties": {
              "paperId": {"type": "string"}, "score": {"type": "integer"}, "confidence": {"type": ["number", "null"]},
              "relevant": {"type": "boolean"}, "topics": {"type": "array", "items": {"type": "string"}}}}""";

    private final ResultRow<SinkRecord> transform = new ResultRow<>();

    @AfterEach
    void close() {
        transform.close();
    }

    @Test
    void shouldFlattenAResultIntoSnakeCaseColumns() {
        // Given
        transform.configure(Map.of());
        Struct failed = result(RESULT, "job-1", "FAILED", null)
                .put(
                        "error",
                        new Struct(ERROR).put("reason", "MAX_TURNS_EXCEEDED").put("message", "4 turns"));

        // When
        Struct row = (Struct) transform.apply(record(failed)).value();

        // Then
        assertThat(row.schema().fields())
                .extracting(Field::name)
                .containsExactly(
                        "job_id",
                        "batch_id",
                        "job_index",
                        "status",
                        "output_json",
                        "error_reason",
                        "error_message",
                        "usage_prompt_tokens",
                        "usage_cached_prompt_tokens",
                        "finished_at_ms",
                        "finished_at");
        assertThat(row.schema().fields())
                .allSatisfy(field -> assertThat(field.schema().isOptional()).isTrue());
        assertThat(row.getString("job_id")).isEqualTo("job-1");
        assertThat(row.getInt64("job_index")).isEqualTo(7L);
        assertThat(row.getString("error_reason")).isEqualTo("MAX_TURNS_EXCEEDED");
        assertThat(row.getString("error_message")).isEqualTo("4 turns");
        assertThat(row.getInt64("usage_cached_prompt_tokens")).isEqualTo(90L);
        assertThat(row.schema().field("finished_at").schema().name()).isEqualTo(Timestamp.LOGICAL_NAME);
        assertThat(row.get("finished_at")).isEqualTo(new Date(1_700_000_000_000L));
    }

    @Test
    void shouldTypeTheOutputsFieldsFromTheBatchsOutputSchema() {
        // Given
        transform.configure(Map.of(ResultRow.OUTPUT_SCHEMA_CONFIG, OUTPUT_SCHEMA));
        String answer =
                "{\"paperId\":\"1706.03762\",\"score\":9,\"confidence\":0.5,\"relevant\":true,\"topics\":[\"nlp\"]}";

        // When
        Struct row = (Struct) transform
                .apply(record(result(RESULT, "job-1", "SUCCEEDED", answer)))
                .value();

        // Then
        assertThat(row.schema().field("output_score").schema().type()).isEqualTo(Schema.Type.INT64);
        assertThat(row.schema().field("output_confidence").schema().type()).isEqualTo(Schema.Type.FLOAT64);
        assertThat(row.getString("output_paper_id")).isEqualTo("1706.03762");
        assertThat(row.getInt64("output_score")).isEqualTo(9L);
        assertThat(row.getFloat64("output_confidence")).isEqualTo(0.5);
        assertThat(row.getBoolean("output_relevant")).isTrue();
        assertThat(row.getString("output_topics")).isEqualTo("[\"nlp\"]");
        assertThat(row.getString("output_json")).isEqualTo(answer);
    }

    @Test
    void shouldLeaveATypedColumnEmptyWhenTheAnswerDoesNotFitIt() {
        // Given
        transform.configure(Map.of(ResultRow.OUTPUT_SCHEMA_CONFIG, OUTPUT_SCHEMA));
        String answer = "{\"paperId\":\"x\",\"score\":\"high\"}";

        // When
        Struct row = (Struct) transform
                .apply(record(result(RESULT, "job-1", "SUCCEEDED", answer)))
                .value();
        Struct noAnswer = (Struct) transform
                .apply(record(result(RESULT, "job-2", "FAILED", "not json")))
                .value();

        // Then
        assertThat(row.getString("output_paper_id")).isEqualTo("x");
        assertThat(row.get("output_score")).isNull();
        assertThat(row.getString("output_json")).isEqualTo(answer);
        assertThat(noAnswer.get("output_paper_id")).isNull();
        assertThat(noAnswer.getString("output_json")).isEqualTo("not json");
    }

    @Test
    void shouldCarryAFieldNewToAgentResultAsANewColumn() {
        // Given a result schema with a field this transform has never heard of
        transform.configure(Map.of());
        SchemaBuilder withCost = SchemaBuilder.struct().name("io.batchagent.events.AgentResult");
        RESULT.fields().forEach(field -> withCost.field(field.name(), field.schema()));
        Schema newer = withCost.field(
                        "costUsd", SchemaBuilder.float64().defaultValue(0.0).build())
                .build();

        // When
        Struct row = (Struct) transform
                .apply(record(result(newer, "job-1", "SUCCEEDED", "{}").put("costUsd", 0.25)))
                .value();

        // Then
        assertThat(row.schema().field("cost_usd").schema().type()).isEqualTo(Schema.Type.FLOAT64);
        assertThat(row.getFloat64("cost_usd")).isEqualTo(0.25);
    }

    @Test
    void shouldPassATombstoneThrough() {
        transform.configure(Map.of());
        SinkRecord tombstone = new SinkRecord("results", 0, Schema.STRING_SCHEMA, "job-1", null, null, 5);

        assertThat(transform.apply(tombstone)).isSameAs(tombstone);
    }

    @Test
    void shouldFailARecordWithoutASchemaSayingWhatItNeeds() {
        transform.configure(Map.of());
        SinkRecord schemaless = new SinkRecord("results", 2, null, "job-1", null, Map.of("jobId", "job-1"), 11);

        assertThatThrownBy(() -> transform.apply(schemaless))
                .isInstanceOf(DataException.class)
                .hasMessageContaining("needs an AgentResult struct")
                .hasMessageContaining("results-2 at offset 11");
    }

    @Test
    void shouldRefuseAnOutputSchemaThatIsNotAJsonObject() {
        assertThatThrownBy(() -> transform.configure(Map.of(ResultRow.OUTPUT_SCHEMA_CONFIG, "{\"properties\": [")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(ResultRow.OUTPUT_SCHEMA_CONFIG);
        assertThatThrownBy(() -> transform.configure(Map.of(ResultRow.OUTPUT_SCHEMA_CONFIG, "{\"properties\": []}")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("\"properties\" must be a JSON object");
    }

    private static Schema resultSchema(SchemaBuilder builder) {
        return builder.field("jobId", Schema.STRING_SCHEMA)
                .field("batchId", Schema.STRING_SCHEMA)
                .field("index", Schema.INT64_SCHEMA)
                .field("status", Schema.STRING_SCHEMA)
                .field("outputJson", Schema.OPTIONAL_STRING_SCHEMA)
                .field("error", ERROR)
                .field("usage", USAGE)
                .field("finishedAtMs", Schema.INT64_SCHEMA)
                .build();
    }

    private static Struct result(Schema schema, String jobId, String status, String outputJson) {
        return new Struct(schema)
                .put("jobId", jobId)
                .put("batchId", "batch-1")
                .put("index", 7L)
                .put("status", status)
                .put("outputJson", outputJson)
                .put("usage", new Struct(USAGE).put("promptTokens", 100L).put("cachedPromptTokens", 90L))
                .put("finishedAtMs", 1_700_000_000_000L);
    }

    private static SinkRecord record(Struct value) {
        return new SinkRecord("results", 0, Schema.STRING_SCHEMA, value.getString("jobId"), value.schema(), value, 3);
    }
}
