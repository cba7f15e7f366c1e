package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.Role;
import io.batchagent.events.ToolCallRef;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class SharedPrefixTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void shouldStartEveryAgentsBodyWithTheSameBytesThroughTheSystemMessage() throws Exception {
        // Given two agents of one batch at different turns
        SharedPrefix prefix = SharedPrefix.of(Fixtures.spec("b-1"));
        List<ChatMessage> first = List.of(Fixtures.user("Find the population of Lyon."));
        List<ChatMessage> second = List.of(
                Fixtures.user("Find the population of Porto."),
                ChatMessage.newBuilder()
                        .setRole(Role.ASSISTANT)
                        .setContent(null)
                        .setToolCalls(List.of(new ToolCallRef("call_1", "web_search", "{\"query\":\"Porto\"}", "abc")))
                        .build(),
                ChatMessage.newBuilder()
                        .setRole(Role.TOOL)
                        .setToolCallId("call_1")
                        .setContent("Porto: 232,000")
                        .build());

        // When
        byte[] a = prefix.render(first);
        byte[] b = prefix.render(second);

        // Then they share every byte up to the end of the system message (and its comma)
        String systemMessageEnd = ",\"messages\":[{\"role\":\"system\",\"content\":"
                + JSON.writeValueAsString(prefix.systemContent()) + "},";
        int end = new String(a, StandardCharsets.UTF_8).indexOf(systemMessageEnd) + systemMessageEnd.length();
        assertThat(end).isEqualTo(prefix.prefixLength());
        assertThat(commonPrefix(a, b)).isGreaterThanOrEqualTo(prefix.prefixLength());
        assertThat(new String(a, 0, prefix.prefixLength(), StandardCharsets.UTF_8))
                .startsWith("{\"model\":\"qwen2.5-32b\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                        + "\"max_tokens\":512,\"temperature\":0.0,\"tools\":[{\"type\":\"function\",\"function\":"
                        + "{\"name\":\"web_search\",\"description\":\"The web_search tool.\",\"parameters\":");

        // And both bodies are valid JSON with the per-agent messages in OpenAI form
        JsonNode body = JSON.readTree(b);
        assertThat(body.get("messages")).hasSize(4);
        assertThat(body.at("/messages/2/content").isNull()).isTrue();
        assertThat(body.at("/messages/2/tool_calls/0/function/arguments").asText())
                .isEqualTo("{\"query\":\"Porto\"}");
        assertThat(body.at("/messages/3/tool_call_id").asText()).isEqualTo("call_1");
        assertThat(JSON.readTree(a).at("/messages/1").toString())
                .isEqualTo("{\"role\":\"user\",\"content\":\"Find the population of Lyon.\"}");
    }

    @Test
    void shouldKeepThePrefixByteIdenticalInEveryDialectWhateverThePerAgentFields() {
        // Given two agents of one batch: a new one, and a continuing one with an expected output length
        PreparedBatch batch = PreparedBatch.of(Fixtures.spec("b-6"));
        EngineCapabilities everything =
                new EngineCapabilities(true, List.of(), null, true, true, EngineCapabilities.Report.YES, "");
        AgentPrompt first = AgentPrompt.forAgent(
                batch, List.of(Fixtures.user("Lyon?")), SchedulingHints.forTurn(1, 4, java.util.OptionalInt.empty()));
        AgentPrompt later = AgentPrompt.forAgent(
                batch, List.of(Fixtures.user("Porto?")), SchedulingHints.forTurn(3, 4, java.util.OptionalInt.of(77)));

        for (OpenAiDialect dialect : OpenAiDialect.values()) {
            // When each dialect renders both
            String a = new String(dialect.render(first, everything), StandardCharsets.UTF_8);
            String b = new String(dialect.render(later, everything), StandardCharsets.UTF_8);

            // Then they share every byte through the system message; per-agent fields come after the messages
            int systemEnd = a.indexOf("{\"role\":\"user\"");
            assertThat(b.substring(0, systemEnd)).as(dialect.name()).isEqualTo(a.substring(0, systemEnd));
            assertThat(a.indexOf("\"messages\"")).as(dialect.name()).isLessThan(systemEnd);
            for (String perAgent : new String[] {"\"priority\"", "\"nvext\"", "\"prompt_cache_key\""}) {
                assertThat(a.indexOf(perAgent) < 0 || a.indexOf(perAgent) > a.lastIndexOf("\"content\":\"Lyon?\""))
                        .as(dialect + " " + perAgent)
                        .isTrue();
            }
        }
    }

    @Test
    void shouldSerializeToolsAndSchemaDeterministicallyWhateverTheInputKeyOrder() {
        // Given the same batch twice, its schemas written with different key order and spacing
        BatchSpec ordered = Fixtures.spec("b-2");
        BatchSpec shuffled = BatchSpec.newBuilder(ordered)
                .setTools(List.of(
                        Fixtures.tool(
                                "web_search",
                                "{ \"required\": [\"query\"], \"properties\": {\"query\": {\"type\": \"string\"}}, \"type\": \"object\" }"),
                        Fixtures.tool(
                                "fetch_url", "{\"type\":\"object\",\"properties\":{\"url\":{\"type\":\"string\"}}}")))
                .setOutputSchemaJson(
                        "{\n  \"properties\": {\"city\": {\"type\": \"string\"}, \"population\": {\"minimum\": 0, \"type\": \"integer\"}},\n"
                                + "  \"required\": [\"city\", \"population\"],\n  \"type\": \"object\"\n}")
                .build();

        // When
        SharedPrefix a = SharedPrefix.of(ordered);
        SharedPrefix b = SharedPrefix.of(shuffled);

        // Then the prefixes are byte-identical, tools in declared order, schema canonical and fenced
        assertThat(a.prefixBytes()).isEqualTo(b.prefixBytes());
        String text = new String(a.prefixBytes(), StandardCharsets.UTF_8);
        assertThat(text.indexOf("\"name\":\"web_search\"")).isLessThan(text.indexOf("\"name\":\"fetch_url\""));
        assertThat(text)
                .contains("\"parameters\":{\"properties\":{\"url\":{\"type\":\"string\"}},\"type\":\"object\"}");
        assertThat(a.systemContent())
                .isEqualTo("You are a careful research agent."
                        + "\n\nYour final answer must be one JSON object that is valid against this JSON Schema:\n```json\n"
                        + "{\"properties\":{\"city\":{\"type\":\"string\"},\"population\":{\"minimum\":0,\"type\":\"integer\"}},"
                        + "\"required\":[\"city\",\"population\"],\"type\":\"object\"}\n```");
    }

    @Test
    void shouldOmitToolsWhenTheBatchDeclaresNone() throws Exception {
        BatchSpec plain = BatchSpec.newBuilder(Fixtures.spec("b-3"))
                .setTools(List.of())
                .setOutputSchemaJson(null)
                .build();

        byte[] body = SharedPrefix.of(plain).render(List.of(Fixtures.user("hi")));

        assertThat(new String(body, StandardCharsets.UTF_8))
                .isEqualTo(
                        "{\"model\":\"qwen2.5-32b\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":512,"
                                + "\"temperature\":0.0,\"messages\":[{\"role\":\"system\",\"content\":\"You are a careful research agent.\"},"
                                + "{\"role\":\"user\",\"content\":\"hi\"}]}");
        assertThat(JSON.readTree(body).isObject()).isTrue();
    }

    @Test
    void shouldRenderValidJsonEvenWithoutAgentMessages() throws Exception {
        byte[] body = SharedPrefix.of(Fixtures.spec("b-5")).render(List.of());

        assertThat(JSON.readTree(body).get("messages")).hasSize(1);
    }

    @Test
    void shouldNameTheToolWhoseParametersAreNotJson() {
        BatchSpec broken = BatchSpec.newBuilder(Fixtures.spec("b-4"))
                .setTools(List.of(Fixtures.tool("calc", "{\"type\": \"object\",")))
                .build();

        assertThatThrownBy(() -> SharedPrefix.of(broken))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("batch 'b-4': parametersJson of tool 'calc' is not valid JSON");
    }

    private static int commonPrefix(byte[] a, byte[] b) {
        int i = 0;
        while (i < a.length && i < b.length && a[i] == b[i]) {
            i++;
        }
        return i;
    }
}
