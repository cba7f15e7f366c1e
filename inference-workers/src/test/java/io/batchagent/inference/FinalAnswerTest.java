package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;

import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import org.junit.jupiter.api.Test;

class FinalAnswerTest {

    private static final JsonSchema SCHEMA =
            JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(Fixtures.SCHEMA);

    @Test
    void shouldFindTheObjectWholeFencedOrEmbedded() {
        assertThat(FinalAnswer.extractObject(" {\"a\": 1} "))
                .hasValueSatisfying(n -> assertThat(n.toString()).isEqualTo("{\"a\":1}"));
        assertThat(FinalAnswer.extractObject("Result:\n```json\n{\"a\": {\"b\": \"}\"}}\n```"))
                .hasValueSatisfying(n -> assertThat(n.toString()).isEqualTo("{\"a\":{\"b\":\"}\"}}"));
        assertThat(FinalAnswer.extractObject("```\n{\"a\": 2}\n```"))
                .hasValueSatisfying(n -> assertThat(n.get("a").asInt()).isEqualTo(2));
        assertThat(FinalAnswer.extractObject("I think {not json} but then {\"a\": \"{x\"} fits."))
                .hasValueSatisfying(n -> assertThat(n.get("a").asText()).isEqualTo("{x"));
        assertThat(FinalAnswer.extractObject("no object here [1, 2]")).isEmpty();
    }

    @Test
    void shouldJudgeAgainstTheSchema() {
        FinalAnswer.Verdict valid = FinalAnswer.judge("{\"population\": 5, \"city\": \"Oslo\"}", "stop", SCHEMA, 100);
        FinalAnswer.Verdict missing = FinalAnswer.judge("{\"city\": \"Oslo\"}", "stop", SCHEMA, 100);
        FinalAnswer.Verdict prose = FinalAnswer.judge("Oslo has about 700k people.", "stop", SCHEMA, 100);

        assertThat(valid.valid()).isTrue();
        assertThat(valid.outputJson()).isEqualTo("{\"population\":5,\"city\":\"Oslo\"}");
        assertThat(missing.problem()).contains("population");
        assertThat(prose.problem()).isEqualTo("the answer contains no JSON object");
    }

    @Test
    void shouldPublishPlainTextAsAJsonStringWhenTheBatchHasNoSchema() {
        FinalAnswer.Verdict verdict = FinalAnswer.judge("Oslo, \"roughly\" 700k.", "stop", null, 100);

        assertThat(verdict.outputJson()).isEqualTo("\"Oslo, \\\"roughly\\\" 700k.\"");
    }
}
