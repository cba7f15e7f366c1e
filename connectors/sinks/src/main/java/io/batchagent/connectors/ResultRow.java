package io.batchagent.connectors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Date;
import java.util.Map;
import org.apache.kafka.common.cache.Cache;
import org.apache.kafka.common.cache.LRUCache;
import org.apache.kafka.common.cache.SynchronizedCache;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.connect.components.Versioned;
import org.apache.kafka.connect.connector.ConnectRecord;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaBuilder;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.data.Timestamp;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.transforms.Transformation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A single message transform that turns an {@code AgentResult}, as an Avro converter hands it to a sink,
 * into one flat row of the results table, so that what lands in the warehouse is designed rather than a
 * dump of nested records:
 *
 * <ul>
 *   <li>Every field of the result becomes a column named in snake case, nested records flattened with
 *       their field's name as prefix: {@code job_id}, {@code batch_id}, {@code status}, {@code error_reason},
 *       {@code error_message}, {@code turns}, {@code usage_prompt_tokens}, {@code timings_total_ms}, ...
 *       {@code index} becomes {@code job_index} (a keyword in SQL). Fields are taken from the record's own
 *       schema, not from a list here: a field added to {@code AgentResult} later arrives as a new column
 *       (the sinks' schema evolution adds it), not as a failed connector. Every column is optional, so
 *       that the sinks can add it to an existing table and older records leave it empty.
 *   <li>{@code finishedAtMs} also arrives as {@code finished_at}, a timestamp.
 *   <li>The final answer stays JSON text in {@code output_json}. With {@value #OUTPUT_SCHEMA_CONFIG} set to the
 *       batch's output JSON Schema, each top-level property also gets a typed column {@code output_<name>}:
 *       string, integer ({@code int64}), number ({@code float64}) and boolean properties are typed; objects
 *       and arrays are JSON text. A value that does not fit its column (an answer that failed the schema)
 *       leaves the column null; {@code output_json} still has it.
 *   <li>A tombstone passes through unchanged, so a sink that deletes on tombstones still can.
 * </ul>
 *
 * Arrays and maps in the result (it has none today) arrive as JSON text. A value that is not a struct (a
 * schemaless converter) fails the record with a {@link DataException} saying so, which the connector's
 * {@code errors.tolerance} then handles. Thread-safe: row schemas are cached per input schema.
 */
public final class ResultRow<R extends ConnectRecord<R>> implements Transformation<R>, Versioned {

    public static final String OUTPUT_SCHEMA_CONFIG = "output.schema";
    private static final String OUTPUT_SCHEMA_DOC = "The batch's output JSON Schema (text, for example "
            + "${env:BATCHAGENT_OUTPUT_SCHEMA}): its top-level properties become typed output_<name> columns. "
            + "Empty: the output is JSON text only.";

    public static final ConfigDef CONFIG_DEF = new ConfigDef()
            .define(OUTPUT_SCHEMA_CONFIG, ConfigDef.Type.STRING, "", ConfigDef.Importance.MEDIUM, OUTPUT_SCHEMA_DOC);

    private static final Logger LOGGER = LoggerFactory.getLogger(ResultRow.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String OUTPUT_FIELD = "outputJson";
    private static final String FINISHED_FIELD = "finishedAtMs";

    private OutputColumns outputColumns = OutputColumns.NONE;
    private final Cache<Schema, Schema> rowSchemas = new SynchronizedCache<>(new LRUCache<>(16));

    @Override
    public void configure(Map<String, ?> configs) {
        AbstractConfig config = new AbstractConfig(CONFIG_DEF, configs);
        String schemaText = config.getString(OUTPUT_SCHEMA_CONFIG);
        try {
            outputColumns = OutputColumns.fromJsonSchema(schemaText);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(OUTPUT_SCHEMA_CONFIG, "(JSON Schema)", e.getMessage());
        }
        LOGGER.info("ResultRow: typed output columns {}", outputColumns.names());
    }

    @Override
    public R apply(R record) {
        if (record.value() == null) {
            return record;
        }
        if (!(record.value() instanceof Struct result) || record.valueSchema() == null) {
            throw new DataException("ResultRow needs an AgentResult struct with a schema (an Avro converter), got "
                    + record.value().getClass().getName() + " on " + record.topic() + "-" + record.kafkaPartition()
                    + " at offset " + offsetOf(record));
        }
        Schema rowSchema = rowSchemas.get(result.schema());
        if (rowSchema == null) {
            rowSchema = rowSchema(result.schema());
            rowSchemas.put(result.schema(), rowSchema);
        }
        Struct row = new Struct(rowSchema);
        fill(row, "", result);
        return record.newRecord(
                record.topic(),
                record.kafkaPartition(),
                record.keySchema(),
                record.key(),
                rowSchema,
                row,
                record.timestamp(),
                record.headers());
    }

    @Override
    public ConfigDef config() {
        return CONFIG_DEF;
    }

    @Override
    public String version() {
        String version = ResultRow.class.getPackage().getImplementationVersion();
        return version == null ? "unknown" : version;
    }

    @Override
    public void close() {}

    private Schema rowSchema(Schema resultSchema) {
        SchemaBuilder row = SchemaBuilder.struct().name("io.batchagent.connectors.ResultRow");
        addColumns(row, "", resultSchema);
        return row.build();
    }

    private void addColumns(SchemaBuilder row, String prefix, Schema struct) {
        for (Field field : struct.fields()) {
            String column = column(prefix, field.name());
            Schema schema = field.schema();
            if (prefix.isEmpty() && field.name().equals(OUTPUT_FIELD)) {
                row.field(column, Schema.OPTIONAL_STRING_SCHEMA);
                outputColumns.addTo(row);
            } else if (schema.type() == Schema.Type.STRUCT) {
                addColumns(row, column + "_", schema);
            } else if (schema.type() == Schema.Type.ARRAY || schema.type() == Schema.Type.MAP) {
                row.field(column, Schema.OPTIONAL_STRING_SCHEMA);
            } else {
                row.field(column, optional(schema));
            }
            if (prefix.isEmpty() && field.name().equals(FINISHED_FIELD)) {
                row.field("finished_at", Timestamp.builder().optional().build());
            }
        }
    }

    private void fill(Struct row, String prefix, Struct struct) {
        for (Field field : struct.schema().fields()) {
            String column = column(prefix, field.name());
            Object value = struct.get(field);
            if (prefix.isEmpty() && field.name().equals(OUTPUT_FIELD)) {
                row.put(column, value);
                outputColumns.fill(row, (String) value);
            } else if (field.schema().type() == Schema.Type.STRUCT) {
                if (value != null) {
                    fill(row, column + "_", (Struct) value);
                }
            } else if (field.schema().type() == Schema.Type.ARRAY
                    || field.schema().type() == Schema.Type.MAP) {
                row.put(column, value == null ? null : jsonText(value));
            } else {
                row.put(column, value);
            }
            if (prefix.isEmpty() && field.name().equals(FINISHED_FIELD) && value instanceof Long millis) {
                row.put("finished_at", new Date(millis));
            }
        }
    }

    /**
     * A primitive field's schema, optional whatever the result's: a column that may be missing from older or
     * newer records is what both sinks' schema evolution can add, and a null nested record leaves its columns
     * empty. Keeps logical types (names and parameters).
     */
    private static Schema optional(Schema schema) {
        SchemaBuilder builder = new SchemaBuilder(schema.type())
                .name(schema.name())
                .version(schema.version())
                .doc(schema.doc())
                .optional();
        if (schema.parameters() != null) {
            builder.parameters(schema.parameters());
        }
        return builder.build();
    }

    /** {@code usage} + {@code promptTokens} is {@code usage_prompt_tokens}; {@code index} is {@code job_index}. */
    static String column(String prefix, String field) {
        String snake = field.replaceAll("([a-z0-9])([A-Z])", "$1_$2")
                .toLowerCase(java.util.Locale.ROOT)
                .replaceAll("[^a-z0-9_]", "_");
        if (prefix.isEmpty() && snake.equals("index")) {
            return "job_index";
        }
        return prefix + snake;
    }

    private static String jsonText(Object value) {
        try {
            return JSON.writeValueAsString(plain(value));
        } catch (JsonProcessingException e) {
            throw new DataException("cannot write a value as JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** Connect's data as plain Java values Jackson can write: structs as maps of their fields. */
    private static Object plain(Object value) {
        if (value instanceof Struct struct) {
            Map<String, Object> fields = new java.util.LinkedHashMap<>();
            struct.schema().fields().forEach(field -> fields.put(field.name(), plain(struct.get(field))));
            return fields;
        }
        if (value instanceof java.util.List<?> list) {
            return list.stream().map(ResultRow::plain).toList();
        }
        if (value instanceof Map<?, ?> map) {
            Map<Object, Object> entries = new java.util.LinkedHashMap<>();
            map.forEach((k, v) -> entries.put(k, plain(v)));
            return entries;
        }
        return value;
    }

    private static Object offsetOf(ConnectRecord<?> record) {
        return record instanceof org.apache.kafka.connect.sink.SinkRecord sink ? sink.kafkaOffset() : "?";
    }
}
