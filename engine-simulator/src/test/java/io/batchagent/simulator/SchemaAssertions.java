package io.batchagent.simulator;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import java.util.Set;

/** Validates JSON against a JSON Schema (draft 2020-12 unless the schema says otherwise). */
final class SchemaAssertions {

    private static final JsonSchemaFactory FACTORY = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012);

    private SchemaAssertions() {}

    static void assertValid(JsonNode schema, JsonNode value) {
        JsonSchema compiled = FACTORY.getSchema(schema);
        Set<ValidationMessage> errors = compiled.validate(value);
        assertThat(errors).as("%s against %s", value, schema).isEmpty();
    }
}
