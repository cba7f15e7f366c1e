package io.batchagent.sdk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import java.util.Optional;
import org.apache.avro.Schema;
import org.junit.jupiter.api.Test;

class OutputSchemaTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    enum Verdict {
        ACCEPT,
        REJECT
    }

    record Author(String name, int order) {}

    record Review(String title, Verdict verdict, List<Author> authors, Optional<String> note) {}

    @Test
    void shouldGenerateAClosedSchemaFromARecordWithOptionalComponentsNotRequired() throws Exception {
        JsonNode schema = JSON.readTree(OutputSchema.of(Review.class).jsonSchema());

        assertThat(schema.path("type").asText()).isEqualTo("object");
        assertThat(schema.path("additionalProperties").asBoolean(true)).isFalse();
        assertThat(schema.path("required"))
                .extracting(JsonNode::asText)
                .containsExactlyInAnyOrder("title", "verdict", "authors");
        assertThat(schema.at("/properties/verdict/enum"))
                .extracting(JsonNode::asText)
                .containsExactly("ACCEPT", "REJECT");
        assertThat(schema.at("/properties/authors/type").asText()).isEqualTo("array");
        assertThat(schema.at("/properties/authors/items/properties/order/type").asText())
                .isEqualTo("integer");
        assertThat(schema.toString()).doesNotContain("$ref");
    }

    @Test
    void shouldDecodeAnAnswerIntoTheRecordWithNestedRecordsListsEnumsAndOptionals() {
        Review review = OutputSchema.of(Review.class)
                .decode(
                        "{\"title\":\"T\",\"verdict\":\"REJECT\",\"authors\":[{\"name\":\"A\",\"order\":2}],\"note\":\"n\"}");

        assertThat(review).isEqualTo(new Review("T", Verdict.REJECT, List.of(new Author("A", 2)), Optional.of("n")));
        assertThat(OutputSchema.of(Review.class)
                        .decode("{\"title\":\"T\",\"verdict\":\"ACCEPT\",\"authors\":[]}")
                        .note())
                .isEmpty();
    }

    @Test
    void shouldTranslateAnAvroRecordSchema() throws Exception {
        Schema avro = new Schema.Parser().parse("""
                {"type":"record","name":"R","fields":[
                  {"name":"id","type":"long"},
                  {"name":"tags","type":{"type":"array","items":"string"}},
                  {"name":"kind","type":{"type":"enum","name":"K","symbols":["A","B"]}},
                  {"name":"note","type":["null","string"],"default":null},
                  {"name":"inner","type":{"type":"record","name":"I","fields":[{"name":"x","type":"double"}]}}]}""");

        JsonNode schema = JSON.readTree(OutputSchema.avro(avro).jsonSchema());

        assertThat(schema.path("required"))
                .extracting(JsonNode::asText)
                .containsExactlyInAnyOrder("id", "tags", "kind", "inner");
        assertThat(schema.at("/properties/id/type").asText()).isEqualTo("integer");
        assertThat(schema.at("/properties/tags/items/type").asText()).isEqualTo("string");
        assertThat(schema.at("/properties/kind/enum"))
                .extracting(JsonNode::asText)
                .containsExactly("A", "B");
        assertThat(schema.at("/properties/note/type").asText()).isEqualTo("string");
        assertThat(schema.at("/properties/inner/properties/x/type").asText()).isEqualTo("number");
    }

    @Test
    void shouldRejectABadSpecAtOnceWithASpecificMessage() {
        assertThatThrownBy(() -> OutputSchema.jsonSchema("[1]")).hasMessageContaining("must be a JSON object");
        assertThatThrownBy(() -> AgentSpec.builder(OutputSchema.of(Review.class))
                        .task("Review {file")
                        .input(java.util.Map.of("file", "a"))
                        .build())
                .hasMessageContaining("task template is invalid")
                .hasMessageContaining("unclosed '{'");
        assertThatThrownBy(() -> AgentSpec.builder(OutputSchema.of(Review.class))
                        .task("Review {file}")
                        .build())
                .hasMessageContaining("at least one input");
        assertThatThrownBy(() -> AgentSpec.builder(OutputSchema.of(Review.class))
                        .task("x")
                        .inputs(List.of("[1]"))
                        .build())
                .hasMessageContaining("must be an object");
        assertThatThrownBy(() -> AgentSpec.builder(OutputSchema.of(Review.class))
                        .task("x")
                        .input(java.util.Map.of())
                        .maxTurns(0)
                        .build())
                .hasMessageContaining("max turns must be at least 1");
    }

    @Test
    void shouldCarryTheBuildersCompactionIntoTheBatchSpec() {
        AgentSpec<Review> spec = AgentSpec.builder(OutputSchema.of(Review.class))
                .task("Review {file}")
                .input(java.util.Map.of("file", "a"))
                .contextTokens(32_768)
                .compaction(io.batchagent.events.CompactionMode.SUMMARIZE)
                .build();

        io.batchagent.events.BatchSpec batch = spec.definition().toSpec("b1", 0);

        assertThat(batch.getCompaction().getMode()).isEqualTo(io.batchagent.events.CompactionMode.SUMMARIZE);
        assertThat(batch.getCompaction().getKeepTurns()).isEqualTo(2);
        assertThat(batch.getContextTokens()).isEqualTo(32_768);
    }
}
