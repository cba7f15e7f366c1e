package io.batchagent.tools.builtin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.tools.ToolContext;
import io.batchagent.tools.http.TestHttpServer;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@code web_search} against a server speaking SearXNG's JSON API (the shape of a real instance's answer). */
class WebSearchToolTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ToolContext CONTEXT =
            new ToolContext("h", "b", Instant.now().plusSeconds(10));
    private static final String ANSWER = """
            {"query": "kafka streams", "number_of_results": 0, "results": [
              {"url": "https://kafka.apache.org/documentation/streams/", "title": "Kafka Streams",
               "content": "Kafka Streams is a client library\\n for building applications.", "engine": "duckduckgo",
               "engines": ["duckduckgo"], "positions": [1], "score": 1.0, "category": "general"},
              {"url": "https://example.com/2", "title": "Second", "content": "", "engine": "brave"},
              {"url": "https://example.com/3", "title": "Third", "content": "three", "engine": "brave"}],
             "answers": [], "corrections": [], "infoboxes": [], "suggestions": [], "unresponsive_engines": []}""";

    private TestHttpServer server;

    @BeforeEach
    void start() throws Exception {
        server = new TestHttpServer()
                .on("/search", e -> TestHttpServer.respond(e, 200, "application/json", ANSWER))
                .on("/down/search", e -> TestHttpServer.respond(e, 503, "text/plain", "maintenance"));
    }

    @AfterEach
    void stop() {
        server.close();
    }

    @Test
    void shouldAskSearxngForJsonWithTheKeyAndListTheResults() throws Exception {
        WebSearchTool tool = new WebSearchTool();
        tool.configure(Map.of("url", server.url("/"), "api.key", "s3cr3t-key", "max.results", "2"));

        String output = tool.execute(JSON.createObjectNode().put("query", "kafka streams"), CONTEXT);

        assertThat(output).isEqualTo("""
                Search results for "kafka streams"

                1. Kafka Streams
                   https://kafka.apache.org/documentation/streams/
                   Kafka Streams is a client library for building applications.

                2. Second
                   https://example.com/2
                """);
        TestHttpServer.Seen request = server.seen().get(0);
        assertThat(request.method()).isEqualTo("GET");
        assertThat(request.uri()).isEqualTo("/search?q=kafka+streams&format=json");
        assertThat(request.authorization()).isEqualTo("Bearer s3cr3t-key");
        assertThat(tool.toString()).doesNotContain("s3cr3t-key").contains("apiKey=***");
    }

    @Test
    void shouldTakeTheNumberOfResultsFromTheCallAndRefuseWithoutAService() throws Exception {
        WebSearchTool tool = new WebSearchTool();
        assertThatThrownBy(() -> tool.execute(JSON.createObjectNode().put("query", "x"), CONTEXT))
                .hasMessage("web_search has no search service configured; set the tool option web_search.url");

        tool.configure(Map.of("url", server.url("")));
        String output =
                tool.execute(JSON.createObjectNode().put("query", "kafka").put("num_results", 3), CONTEXT);

        assertThat(output).contains("3. Third");
        assertThat(server.seen().get(0).authorization()).isNull();
    }

    @Test
    void shouldReportAFailingServiceAsAnErrorAndRefuseAMissingKeyVariable() {
        WebSearchTool tool = new WebSearchTool();
        tool.configure(Map.of("url", server.url("/down")));

        assertThatThrownBy(() -> tool.execute(JSON.createObjectNode().put("query", "kafka"), CONTEXT))
                .hasMessage("web_search (searxng) failed: the search service answered HTTP 503");
        assertThatThrownBy(() -> tool.configure(Map.of("api.key.env", "BATCHAGENT_TEST_NO_SUCH_VARIABLE")))
                .hasMessageContaining(
                        "names the environment variable BATCHAGENT_TEST_NO_SUCH_VARIABLE, which is not set");
        assertThatThrownBy(() -> tool.configure(Map.of("provider", "bing")))
                .hasMessage("provider 'bing' is not installed; installed: searxng");
    }
}
