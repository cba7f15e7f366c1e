package io.batchagent.tools;

import static io.batchagent.tools.TestTools.tool;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.batchagent.tools.builtin.EchoTool;
import io.batchagent.tools.builtin.HttpFetchTool;
import io.batchagent.tools.builtin.ListFilesTool;
import io.batchagent.tools.builtin.ReadFileTool;
import io.batchagent.tools.builtin.SimSearchTool;
import io.batchagent.tools.builtin.SqlQueryTool;
import io.batchagent.tools.builtin.WebSearchTool;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class ToolRegistryTest {

    @Test
    void shouldDiscoverBuiltInToolsThroughServiceLoader() {
        ToolRegistry registry = ToolRegistry.builder().discover().build();

        assertThat(registry.names())
                .containsExactly(
                        "echo", "http_fetch", "list_files", "read_file", "sim_search", "sql_query", "web_search");
        assertThat(registry.find("echo")).containsInstanceOf(EchoTool.class);
        assertThat(registry.find("list_files")).containsInstanceOf(ListFilesTool.class);
        assertThat(registry.find("http_fetch")).containsInstanceOf(HttpFetchTool.class);
        assertThat(registry.find("web_search")).containsInstanceOf(WebSearchTool.class);
        assertThat(registry.find("sql_query")).containsInstanceOf(SqlQueryTool.class);
        assertThat(registry.find("read_file")).containsInstanceOf(ReadFileTool.class);
        assertThat(registry.find("sim_search")).containsInstanceOf(SimSearchTool.class);
    }

    @Test
    void shouldAddProgrammaticToolsBesideDiscoveredOnes() {
        ToolRegistry registry = ToolRegistry.builder()
                .discover()
                .add(tool("weather", (a, c) -> "sunny"))
                .build();

        assertThat(registry.names())
                .containsExactly(
                        "echo",
                        "http_fetch",
                        "list_files",
                        "read_file",
                        "sim_search",
                        "sql_query",
                        "weather",
                        "web_search");
        assertThat(registry.find("weather")).isPresent();
        assertThat(registry.find("nope")).isEmpty();
    }

    @Test
    void shouldRejectDuplicateNamesNamingBothClasses() {
        ToolRegistry.Builder builder = ToolRegistry.builder().discover();

        assertThatThrownBy(() -> builder.add(tool("echo", (a, c) -> "")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("two tools are named 'echo': io.batchagent.tools.builtin.EchoTool and ")
                .hasMessageEndingWith("; tool names must be unique on a worker");
    }

    @Test
    void shouldRejectNamesTheModelApisWouldRefuse() {
        assertThatThrownBy(() -> ToolRegistry.builder().add(tool("web search", (a, c) -> "")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("invalid name 'web search'");
        assertThatThrownBy(() -> ToolRegistry.builder().add(tool("a.b", (a, c) -> "")))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void shouldHandEachToolOnlyItsOwnOptionsWithoutPrefix() {
        AtomicReference<Map<String, String>> seen = new AtomicReference<>();
        Tool configurable = new Tool() {
            @Override
            public String name() {
                return "geo";
            }

            @Override
            public void configure(Map<String, String> options) {
                seen.set(options);
            }

            @Override
            public String execute(com.fasterxml.jackson.databind.JsonNode arguments, ToolContext context) {
                return "";
            }
        };
        ToolRegistry registry =
                ToolRegistry.builder().add(configurable).add(new EchoTool()).build();

        registry.configure(Map.of(
                "geo.api.url", "http://localhost", "geo.rate", "5", "geocode.x", "1", "unknown.option", "ignored"));

        assertThat(seen.get()).containsExactlyInAnyOrderEntriesOf(Map.of("api.url", "http://localhost", "rate", "5"));
    }
}
