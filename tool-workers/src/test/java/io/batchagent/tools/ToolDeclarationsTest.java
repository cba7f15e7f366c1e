package io.batchagent.tools;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.ToolSpec;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ToolDeclarationsTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static List<ToolSpec> parse(String json) throws Exception {
        return ToolDeclarations.parse(JSON.readTree(json), "tools.json");
    }

    @Test
    void shouldReadEveryKeyIntoTheSpec() throws Exception {
        List<ToolSpec> specs = parse("""
                [{"name": "lookup_customer", "description": "Finds customers.",
                  "parameters": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
                  "timeout_ms": 5000, "cacheable": true, "cache_ttl_ms": 60000, "coalesce": true, "max_output_chars": 4000,
                  "rate_limit_per_second": 2.5, "max_concurrency": 3, "batchable": true, "batch_window_ms": 30, "batch_max_size": 50},
                 {"name": "weather", "http_url": "https://weather.example.com/v1/now"},
                 {"name": "word_count", "mcp_server": "texttools"}]
                """);

        ToolSpec lookup = specs.get(0);
        assertThat(lookup.getParametersJson())
                .isEqualTo("{\"properties\":{\"id\":{\"type\":\"string\"}},\"required\":[\"id\"],\"type\":\"object\"}");
        assertThat(lookup.getTimeoutMs()).isEqualTo(5000);
        assertThat(lookup.getCacheable()).isTrue();
        assertThat(lookup.getCacheTtlMs()).isEqualTo(60_000);
        assertThat(lookup.getMaxOutputChars()).isEqualTo(4000);
        assertThat(lookup.getRateLimitPerSecond()).isEqualTo(2.5);
        assertThat(lookup.getMaxConcurrency()).isEqualTo(3);
        assertThat(lookup.getBatchable()).isTrue();
        assertThat(lookup.getBatchWindowMs()).isEqualTo(30);
        assertThat(lookup.getBatchMaxSize()).isEqualTo(50);
        assertThat(specs.get(1).getHttpUrl()).isEqualTo("https://weather.example.com/v1/now");
        assertThat(specs.get(1).getParametersJson()).isEqualTo("{\"type\":\"object\"}");
        assertThat(specs.get(2).getMcpServer()).isEqualTo("texttools");
        assertThat(specs.get(2).getBatchable()).isFalse();
    }

    @Test
    void shouldCacheForTheDefaultTtlWhenACacheableToolNamesNone() throws Exception {
        List<ToolSpec> specs = parse("""
                [{"name": "lookup", "cacheable": true}, {"name": "plain"}]
                """);

        assertThat(specs.get(0).getCacheable()).isTrue();
        assertThat(specs.get(0).getCacheTtlMs())
                .isEqualTo(ToolDeclarations.DEFAULT_CACHE_TTL_MS)
                .isEqualTo(3_600_000);
        assertThat(specs.get(1).getCacheable()).isFalse();
        assertThat(specs.get(1).getCacheTtlMs()).isZero();
    }

    @ParameterizedTest(name = "{1}")
    @CsvSource(delimiter = '|', textBlock = """
            [{"name": "a b"}]                                                   | tools.json tool #1: 'name' must be 1-64 letters, digits, '_' or '-', got "a b"
            [{"name": "t"}, {"name": "t"}]                                      | tools.json tool #2 (t): another tool is already named 't'
            [{"name": "t", "cachable": true}]                                   | tools.json tool #1 (t): unknown key(s) [cachable]
            [{"name": "t", "parameters": []}]                                   | tools.json tool #1 (t): 'parameters' must be a JSON Schema object
            [{"name": "t", "parameters": {"type": "string"}}]                   | 'parameters' must describe an object
            [{"name": "t", "parameters": {"type": "object", "properties": {"q": {"type": "strng"}}}}] | tools.json tool #1 (t): 'parameters' is not a usable JSON Schema
            [{"name": "t", "parameters": {"$ref": "https://example.com/schema.json"}}] | parameter schemas may only use local references
            [{"name": "t", "timeout_ms": "30s"}]                                | tools.json tool #1 (t): 'timeout_ms' must be an integer, got "30s"
            [{"name": "t", "timeout_ms": 0}]                                    | 'timeout_ms' must be from 1 to 3600000, got 0
            [{"name": "t", "cacheable": true, "cache_ttl_ms": 0}]               | 'cache_ttl_ms' must be positive when 'cacheable' is true
            [{"name": "t", "cache_ttl_ms": 1000}]                               | 'cache_ttl_ms' is set but 'cacheable' is not true
            [{"name": "t", "max_output_chars": 10000000}]                       | 'max_output_chars' must be from 100 to 262144
            [{"name": "t", "rate_limit_per_second": -1}]                        | 'rate_limit_per_second' must be from 0 (no limit)
            [{"name": "t", "max_concurrency": 1.5}]                             | 'max_concurrency' must be an integer
            [{"name": "t", "batch_window_ms": 50}]                              | 'batch_window_ms' and 'batch_max_size' need 'batchable': true
            [{"name": "t", "batchable": true, "batch_window_ms": 0}]            | 'batch_window_ms' must be from 1 to 10000
            [{"name": "t", "batchable": "yes"}]                                 | 'batchable' must be true or false
            [{"name": "t", "http_url": "ftp://example.com/x"}]                  | 'http_url' must be an absolute http:// or https:// URL
            [{"name": "t", "http_url": "https://user:pw@example.com/x"}]        | 'http_url' must not carry credentials
            [{"name": "t", "http_url": "https://example.com", "mcp_server": "m"}] | a tool has either 'http_url' or 'mcp_server', not both
            {"name": "t"}                                                       | tools.json must hold a JSON array of tool declarations
            """)
    void shouldRefuseABadDeclarationSayingWhereAndWhy(String json, String message) throws Exception {
        JsonNode root = JSON.readTree(json);

        assertThatThrownBy(() -> ToolDeclarations.parse(root, "tools.json"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(message);
    }
}
