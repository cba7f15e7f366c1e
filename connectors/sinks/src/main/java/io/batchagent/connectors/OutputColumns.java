package io.batchagent.connectors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaBuilder;
import org.apache.kafka.connect.data.Struct;

/**
 * The typed columns a batch's output JSON Schema gives the results table: one {@code output_<name>} column
 * per top-level property. Immutable and thread-safe.
 */
final class OutputColumns {

    static final OutputColumns NONE = new OutputColumns(List.of());

    private static final ObjectMapper JSON = new ObjectMapper();

    private final List<Column> columns;

    private OutputColumns(List<Column> columns) {
        this.columns = List.copyOf(columns);
    }

    /**
     * The columns of a JSON Schema's top-level {@code properties}; none for blank text.
     *
     * @throws IllegalArgumentException the text is not a JSON object, or its {@code properties} is not one
     */
    static OutputColumns fromJsonSchema(String schemaText) {
        if (schemaText == null || schemaText.isBlank()) {
            return NONE;
        }
        JsonNode schema;
        try {
            schema = JSON.readTree(schemaText);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not JSON: " + e.getOriginalMessage(), e);
        }
        if (schema == null || !schema.isObject()) {
            throw new IllegalArgumentException("a JSON Schema must be a JSON object");
        }
        JsonNode properties = schema.path("properties");
        if (!properties.isMissingNode() && !properties.isObject()) {
            throw new IllegalArgumentException("\"properties\" must be a JSON object");
        }
        List<Column> columns = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = properties.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> property = it.next();
            columns.add(new Column(
                    property.getKey(), ResultRow.column("output_", property.getKey()), Kind.of(property.getValue())));
        }
        return new OutputColumns(columns);
    }

    List<String> names() {
        return columns.stream().map(Column::name).toList();
    }

    void addTo(SchemaBuilder row) {
        columns.forEach(column -> row.field(column.name(), column.kind().schema));
    }

    /** Fills the columns from an answer; each stays null when the answer lacks it or it does not fit. */
    void fill(Struct row, String outputJson) {
        if (columns.isEmpty() || outputJson == null) {
            return;
        }
        JsonNode answer;
        try {
            answer = JSON.readTree(outputJson);
        } catch (JsonProcessingException e) {
            return;
        }
        if (answer == null || !answer.isObject()) {
            return;
        }
        for (Column column : columns) {
            JsonNode value = answer.get(column.property());
            if (value != null && !value.isNull()) {
                row.put(column.name(), column.kind().read(value));
            }
        }
    }

    private record Column(String property, String name, Kind kind) {}

    /** How a JSON Schema type maps to a column. */
    private enum Kind {
        STRING(Schema.OPTIONAL_STRING_SCHEMA) {
            @Override
            Object read(JsonNode value) {
                return value.isTextual() ? value.textValue() : null;
            }
        },
        INTEGER(Schema.OPTIONAL_INT64_SCHEMA) {
            @Override
            Object read(JsonNode value) {
                return value.isIntegralNumber() && value.canConvertToLong() ? value.longValue() : null;
            }
        },
        NUMBER(Schema.OPTIONAL_FLOAT64_SCHEMA) {
            @Override
            Object read(JsonNode value) {
                return value.isNumber() ? value.doubleValue() : null;
            }
        },
        BOOLEAN(Schema.OPTIONAL_BOOLEAN_SCHEMA) {
            @Override
            Object read(JsonNode value) {
                return value.isBoolean() ? value.booleanValue() : null;
            }
        },
        /** Objects, arrays, and properties whose type is absent or several: their JSON text. */
        JSON_TEXT(Schema.OPTIONAL_STRING_SCHEMA) {
            @Override
            Object read(JsonNode value) {
                return value.toString();
            }
        };

        final Schema schema;

        Kind(Schema schema) {
            this.schema = schema;
        }

        abstract Object read(JsonNode value);

        /** {@code "type": "integer"} or {@code "type": ["integer", "null"]} is INTEGER; anything else by its type. */
        static Kind of(JsonNode property) {
            JsonNode type = property.path("type");
            String name = type.isTextual() ? type.textValue() : null;
            if (type.isArray()) {
                List<String> types = new ArrayList<>();
                type.forEach(t -> {
                    if (!t.asText().equals("null")) {
                        types.add(t.asText());
                    }
                });
                name = types.size() == 1 ? types.get(0) : null;
            }
            if (name == null) {
                return JSON_TEXT;
            }
            return switch (name) {
                case "string" -> STRING;
                case "integer" -> INTEGER;
                case "number" -> NUMBER;
                case "boolean" -> BOOLEAN;
                default -> JSON_TEXT;
            };
        }
    }
}
