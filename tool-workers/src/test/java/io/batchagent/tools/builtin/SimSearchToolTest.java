package io.batchagent.tools.builtin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.tools.ToolContext;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SimSearchToolTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ToolContext CONTEXT =
            new ToolContext("hash", "batch", Instant.now().plusSeconds(30));

    private static JsonNode query(String query, Integer count) {
        var node = JSON.createObjectNode().put("query", query);
        return count == null ? node : node.put("num_results", count);
    }

    @Test
    void shouldSayItIsSimulated() {
        SimSearchTool tool = new SimSearchTool(Duration.ZERO);

        assertThat(tool.name()).isEqualTo("sim_search");
        assertThat(tool.description()).startsWith("SIMULATED web search");
        assertThat(SimSearchTool.results("kafka", 1)).startsWith("SIMULATED web search results");
    }

    @Test
    void shouldGiveTheSameResultsForTheSameQueryAndOthersForAnother() throws Exception {
        SimSearchTool tool = new SimSearchTool(Duration.ZERO);

        String first = tool.execute(query("kafka streams", null), CONTEXT);
        String again = tool.execute(query("kafka streams", null), CONTEXT);
        String other = tool.execute(query("redis cluster", null), CONTEXT);

        assertThat(first)
                .isEqualTo(again)
                .contains("Query: \"kafka streams\"")
                .contains("5. ")
                .doesNotContain("6. ");
        assertThat(other).isNotEqualTo(first).contains("https://sim-search.invalid/redis-cluster/");
    }

    @Test
    void shouldReturnTheRequestedNumberOfResults() throws Exception {
        SimSearchTool tool = new SimSearchTool(Duration.ZERO);

        assertThat(tool.execute(query("q", 10), CONTEXT)).contains("10. ");
        assertThatThrownBy(() -> tool.execute(query("q", 11), CONTEXT))
                .hasMessageContaining("'num_results' must be an integer from 1 to 10");
        assertThatThrownBy(() -> tool.execute(JSON.createObjectNode(), CONTEXT))
                .hasMessage("sim_search needs a non-empty string argument 'query'");
    }

    @Test
    void shouldWaitItsConfiguredLatencyBeforeAnswering() throws Exception {
        SimSearchTool tool = new SimSearchTool();
        assertThat(tool.latency()).isEqualTo(Duration.ofMillis(400));
        tool.configure(Map.of("latency.ms", "150"));

        long start = System.nanoTime();
        tool.execute(query("latency", 1), CONTEXT);

        assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(150));
    }

    @Test
    void shouldRejectANegativeLatency() {
        assertThatThrownBy(() -> new SimSearchTool().configure(Map.of("latency.ms", "-1")))
                .hasMessage("latency.ms must not be negative, got -1");
    }
}
