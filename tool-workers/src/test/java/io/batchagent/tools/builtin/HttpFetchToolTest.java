package io.batchagent.tools.builtin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.tools.ToolContext;
import io.batchagent.tools.http.TestHttpServer;
import java.net.http.HttpTimeoutException;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class HttpFetchToolTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PAGE = """
            <!doctype html><html><head><title>Kafka tool calls</title><style>p { color: red }</style>
            <script>alert('tracking')</script></head>
            <body><nav>Home</nav><h1>Coalescing</h1><p>Identical calls   run
            once.</p><ul><li>first item</li><li>second <b>bold</b> item</li></ul>
            <form><input value="hidden"></form><p>The end.</p></body></html>""";

    private final CountDownLatch release = new CountDownLatch(1);
    private TestHttpServer server;
    private HttpFetchTool tool;

    @BeforeEach
    void start() throws Exception {
        server = new TestHttpServer()
                .on("/page", e -> TestHttpServer.respond(e, 200, "text/html; charset=utf-8", PAGE))
                .on("/big", e -> TestHttpServer.respond(e, 200, "text/plain", "z".repeat(100_000)))
                .on("/json", e -> TestHttpServer.respond(e, 200, "application/json", "{\"a\":1}"))
                .on("/image", e -> TestHttpServer.respond(e, 200, "image/png", "\u0089PNG"))
                .on("/hop", e -> {
                    e.getResponseHeaders().set("Location", "/page");
                    e.sendResponseHeaders(302, -1);
                })
                .on("/away", e -> {
                    e.getResponseHeaders().set("Location", "http://169.254.169.254/latest/meta-data/");
                    e.sendResponseHeaders(302, -1);
                })
                .on("/slow", e -> {
                    release.await();
                    TestHttpServer.respond(e, 200, "text/plain", "late");
                });
        tool = new HttpFetchTool();
        tool.configure(Map.of("allowed.hosts", "127.0.0.1", "timeout.ms", "300"));
    }

    @AfterEach
    void stop() {
        release.countDown();
        server.close();
    }

    private String fetch(String url) throws Exception {
        JsonNode arguments = JSON.createObjectNode().put("url", url);
        return tool.execute(arguments, new ToolContext("h", "b", Instant.now().plusSeconds(10)));
    }

    @Test
    void shouldReduceHtmlToItsReadableText() throws Exception {
        String text = fetch(server.url("/page"));

        assertThat(text)
                .startsWith("URL: " + server.url("/page") + "\nStatus: 200\nTitle: Kafka tool calls\n\n")
                .contains("Coalescing\nIdentical calls run once.\n- first item\n- second bold item\nThe end.")
                .doesNotContain("alert", "color", "hidden", "<");
    }

    @Test
    void shouldRefuseEveryHostWhenNoneIsAllowedAndHostsOffTheList() {
        HttpFetchTool closed = new HttpFetchTool();
        JsonNode arguments = JSON.createObjectNode().put("url", server.url("/page"));

        assertThatThrownBy(() -> closed.execute(
                        arguments, new ToolContext("h", "b", Instant.now().plusSeconds(5))))
                .hasMessageContaining("no host is allowed (set the tool option http_fetch.allowed.hosts)");
        assertThatThrownBy(() -> fetch("http://localhost:1/page"))
                .hasMessageContaining("only http(s) URLs on these hosts are allowed: 127.0.0.1");
        assertThatThrownBy(() -> fetch("file:///etc/passwd"))
                .hasMessageContaining("http_fetch refuses file:///etc/passwd");
        assertThatThrownBy(() -> fetch("page.html")).hasMessageContaining("needs an absolute http(s) URL");
    }

    @Test
    void shouldFollowRedirectsOnlyToAllowedHosts() throws Exception {
        assertThat(fetch(server.url("/hop"))).contains("Title: Kafka tool calls");
        assertThatThrownBy(() -> fetch(server.url("/away")))
                .hasMessageContaining("http_fetch refuses http://169.254.169.254/");
    }

    @Test
    void shouldReadNoMoreThanTheSizeCapAndSaySo() throws Exception {
        tool.configure(Map.of("max.bytes", "1000"));

        String text = fetch(server.url("/big"));

        assertThat(text)
                .contains("z".repeat(1000))
                .doesNotContain("z".repeat(1001))
                .endsWith("[http_fetch: read the first 1000 bytes of the body; the rest was cut]");
    }

    @Test
    void shouldGiveUpAfterItsTimeout() {
        assertThatThrownBy(() -> fetch(server.url("/slow"))).isInstanceOf(HttpTimeoutException.class);
    }

    @Test
    void shouldPassJsonThroughAndRefuseBinaryContent() throws Exception {
        assertThat(fetch(server.url("/json"))).endsWith("\n\n{\"a\":1}");
        assertThatThrownBy(() -> fetch(server.url("/image"))).hasMessageContaining("is image/png, not text or HTML");
    }
}
