package io.batchagent.simulator;

import static io.batchagent.simulator.SchemaAssertions.assertValid;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ScriptedModelTest {

    private static final String WEB_SEARCH = "{\"type\":\"function\",\"function\":{\"name\":\"web_search\","
            + "\"parameters\":{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"},"
            + "\"num_results\":{\"type\":\"integer\",\"default\":5},\"fresh\":{\"type\":\"boolean\"}},"
            + "\"required\":[\"query\",\"num_results\"]}}}";
    private static final String LOOKUP = "{\"type\":\"function\",\"function\":{\"name\":\"lookup\","
            + "\"parameters\":{\"type\":\"object\",\"properties\":{\"paper_id\":{\"type\":\"string\"},"
            + "\"depth\":{\"type\":\"integer\",\"minimum\":3}}}}}";
    private static final String USER = "Paper ID: 1706.03762\\nTitle: Attention Is All You Need\\n"
            + "Topic: transformer attention\\n\\nTask: use web_search, then summarise.";

    private static JsonNode json(String text) throws Exception {
        return Json.MAPPER.readTree(text);
    }

    private static ChatRequest request(String body) throws Exception {
        return ChatRequest.parse(body);
    }

    private static ScriptedModel.ScriptedOutput respond(ToolCallRule rule, String body) throws Exception {
        return new ScriptedModel(rule).respond(request(body));
    }

    @Test
    void shouldCallTheFirstToolWithDefaultArgumentsOnTheFirstTurn() throws Exception {
        ScriptedModel.ScriptedOutput output = respond(
                ToolCallRule.defaultRule(),
                "{\"messages\":[" + "{\"role\":\"user\",\"content\":\"" + USER + "\"}],\"tools\":[" + WEB_SEARCH + ","
                        + LOOKUP + "]}");

        assertThat(output.isToolCall()).isTrue();
        assertThat(output.toolName()).isEqualTo("web_search");
        assertThat(json(output.arguments()))
                .isEqualTo(json("{\"query\":\"" + USER.replace("\\n\\nTask", "\\n\\nTask") + "\",\"num_results\":5}"));
        assertThat(output.toolCallId()).startsWith("call_").hasSize(29);
        assertThat(output.text())
                .isEqualTo("<tool_call>\n{\"name\": \"web_search\", \"arguments\": " + output.arguments()
                        + "}\n</tool_call>");
    }

    @Test
    void shouldTakeStringArgumentsFromMatchingNameValueLines() throws Exception {
        ScriptedModel.ScriptedOutput output = respond(
                ToolCallRule.defaultRule(),
                "{\"messages\":[" + "{\"role\":\"user\",\"content\":\"" + USER + "\"}],\"tools\":[" + LOOKUP + "]}");

        // No property is required, so all of them are generated; "Paper ID" matches paper_id.
        assertThat(json(output.arguments())).isEqualTo(json("{\"paper_id\":\"1706.03762\",\"depth\":3}"));
    }

    @Test
    void shouldApplyARegexToolRuleWithTemplateAndTypedValues() throws Exception {
        ToolCallRule rule = ToolCallRule.parse(
                "web_search.query=Topic: (.*)=>systems research context for $1, web_search.num_results=()=>7");

        ScriptedModel.ScriptedOutput output = respond(
                rule,
                "{\"messages\":[" + "{\"role\":\"user\",\"content\":\"" + USER + "\"}],\"tools\":[" + LOOKUP + ","
                        + WEB_SEARCH + "]}");

        assertThat(output.toolName())
                .as("first offered tool that has rule entries")
                .isEqualTo("web_search");
        assertThat(json(output.arguments()))
                .isEqualTo(
                        json("{\"query\":\"systems research context for transformer attention\",\"num_results\":7}"));
        assertThat(rule)
                .hasToString(
                        "web_search.query=Topic: (.*)=>systems research context for $1, web_search.num_results=()=>7");
    }

    @Test
    void shouldKeepTheDefaultWhenARuleRegexDoesNotMatch() throws Exception {
        ToolCallRule rule = ToolCallRule.parse("web_search.query=Company: (\\w+)");

        ScriptedModel.ScriptedOutput output = respond(
                rule,
                "{\"messages\":[{\"role\":\"user\",\"content\":" + "\"Query: kv cache\"}],\"tools\":[" + WEB_SEARCH
                        + "]}");

        assertThat(json(output.arguments()).get("query").asText()).isEqualTo("kv cache");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "web_search", "web_search.query", "web_search.query=no group", "x.y=(unclosed"})
    void shouldRejectAMalformedToolRule(String spec) {
        assertThatThrownBy(() -> ToolCallRule.parse(spec)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void shouldUseACustomJavaRule() throws Exception {
        ToolCallRule rule = context -> Optional.of(new ToolInvocation(
                "lookup",
                Json.NODES
                        .objectNode()
                        .put("paper_id", context.firstUserMessage().length())));

        ScriptedModel.ScriptedOutput output = respond(
                rule,
                "{\"messages\":[{\"role\":\"user\",\"content\":" + "\"abc\"}],\"tools\":[" + WEB_SEARCH + "," + LOOKUP
                        + "]}");

        assertThat(output.toolName()).isEqualTo("lookup");
        assertThat(output.arguments()).isEqualTo("{\"paper_id\":3}");
    }

    @Test
    void shouldAnswerWithSchemaValidJsonFromTheSystemMessageFenceAfterAToolResult() throws Exception {
        String schema = "{\"type\":\"object\",\"properties\":{\"paper_id\":{\"type\":\"string\"},"
                + "\"title\":{\"type\":\"string\"},\"contribution\":{\"type\":\"string\",\"minLength\":20},"
                + "\"relevance\":{\"type\":\"string\",\"enum\":[\"high\",\"medium\",\"low\"]},"
                + "\"turns\":{\"type\":\"integer\",\"minimum\":2,\"maximum\":2},"
                + "\"sources_used\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":2,\"uniqueItems\":true}},"
                + "\"required\":[\"paper_id\",\"title\",\"contribution\",\"relevance\",\"turns\",\"sources_used\"],"
                + "\"additionalProperties\":false}";
        String system = "You are an analyst.\\n\\nYour final answer must be one JSON object that is valid against "
                + "this JSON Schema:\\n```json\\n" + schema.replace("\"", "\\\"") + "\\n```";

        ScriptedModel.ScriptedOutput output = respond(
                ToolCallRule.defaultRule(),
                "{\"messages\":["
                        + "{\"role\":\"system\",\"content\":\"" + system + "\"},"
                        + "{\"role\":\"user\",\"content\":\"" + USER + "\"},"
                        + "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
                        + "\"function\":{\"name\":\"web_search\",\"arguments\":\"{}\"}}]},"
                        + "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"results\"}],"
                        + "\"tools\":[" + WEB_SEARCH + "]}");

        assertThat(output.isToolCall()).isFalse();
        JsonNode answer = json(output.text());
        assertValid(json(schema), answer);
        assertThat(answer.get("paper_id").asText()).isEqualTo("1706.03762");
        assertThat(answer.get("title").asText()).isEqualTo("Attention Is All You Need");
        assertThat(answer.get("turns").asInt()).isEqualTo(2);
    }

    @Test
    void shouldPreferResponseFormatSchemaAndFallBackToAnAnswerObject() throws Exception {
        String schema =
                "{\"type\":\"object\",\"properties\":{\"company\":{\"type\":\"string\"}},\"required\":[\"company\"]}";
        ScriptedModel.ScriptedOutput structured = respond(
                ToolCallRule.defaultRule(),
                "{\"messages\":["
                        + "{\"role\":\"user\",\"content\":\"Company: NVIDIA\"}],\"response_format\":{\"type\":\"json_schema\","
                        + "\"json_schema\":{\"name\":\"r\",\"schema\":" + schema + "}}}");
        ScriptedModel.ScriptedOutput plain = respond(
                ToolCallRule.defaultRule(), "{\"messages\":[" + "{\"role\":\"user\",\"content\":\"Hello there\"}]}");

        assertThat(json(structured.text())).isEqualTo(json("{\"company\":\"NVIDIA\"}"));
        assertThat(json(plain.text()).get("answer").asText()).isEqualTo("simulated answer for: Hello there");
    }

    @Test
    void shouldNotCallAToolWhenToolChoiceIsNone() throws Exception {
        ScriptedModel.ScriptedOutput output = respond(
                ToolCallRule.defaultRule(),
                "{\"messages\":[{\"role\":\"user\"," + "\"content\":\"x\"}],\"tools\":[" + WEB_SEARCH
                        + "],\"tool_choice\":\"none\"}");

        assertThat(output.isToolCall()).isFalse();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"maxLength\":3},"
                        + "\"b\":{\"type\":\"number\",\"exclusiveMinimum\":0,\"exclusiveMaximum\":1},"
                        + "\"c\":{\"type\":\"integer\",\"multipleOf\":5,\"minimum\":7},\"d\":{\"const\":\"fixed\"},"
                        + "\"e\":{\"type\":[\"null\",\"boolean\"]},\"f\":{\"type\":\"string\",\"format\":\"date-time\"}}}",
                "{\"$defs\":{\"item\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
                        + "\"score\":{\"type\":\"integer\",\"maximum\":0}},\"required\":[\"name\"]}},"
                        + "\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/item\"},"
                        + "\"minItems\":3,\"uniqueItems\":true}},\"required\":[\"items\"]}",
                "{\"allOf\":[{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\"}},\"required\":[\"x\"]},"
                        + "{\"properties\":{\"y\":{\"anyOf\":[{\"type\":\"null\"},{\"type\":\"integer\",\"minimum\":10}]}},"
                        + "\"required\":[\"y\"]}]}",
                "{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"prefixItems\":[{\"type\":\"integer\"},"
                        + "{\"enum\":[\"a\",\"b\"]}],\"items\":false,\"minItems\":2},\"nested\":{\"type\":\"object\","
                        + "\"properties\":{\"deep\":{\"type\":\"object\",\"minProperties\":2,\"additionalProperties\":"
                        + "{\"type\":\"integer\"}}}}},\"required\":[\"tags\",\"nested\"]}",
                "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"minLength\":40},\"maxItems\":0}"
            })
    void shouldGenerateValuesValidAgainstAssortedSchemas(String schemaText) throws Exception {
        JsonNode schema = json(schemaText);

        JsonNode value = new SchemaValueGenerator(schema, Map.of(), name -> "text for " + name).generate();

        assertValid(schema, value);
    }

    @Test
    void shouldGenerateTheSameValueEveryTime() throws Exception {
        JsonNode schema = json("{\"type\":\"object\",\"properties\":{\"summary\":{\"type\":\"string\"}}}");
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Topic: x\"}],\"response_format\":"
                + "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"s\",\"schema\":" + schema + "}}}";

        List<String> answers = List.of(
                respond(ToolCallRule.defaultRule(), body).text(),
                respond(ToolCallRule.defaultRule(), body).text());

        assertThat(answers.get(0)).isEqualTo(answers.get(1)).startsWith("{\"summary\":\"simulated summary ");
    }
}
