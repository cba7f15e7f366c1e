package io.batchagent.tools;

import static io.batchagent.tools.TestTools.call;
import static io.batchagent.tools.TestTools.spec;
import static io.batchagent.tools.TestTools.tool;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.events.BatchItem;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.schemas.CallHash;
import io.batchagent.tools.http.TestHttpServer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** The steps a call goes through on a worker: argument validation, batches, HTTP and MCP declarations, limits. */
class ToolCallStepsTest {

    private static final String TEXT_SCHEMA =
            "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\",\"maxLength\":10}},\"required\":[\"text\"]}";

    private String testName;
    private ToolWorkerHarness harness;

    @BeforeEach
    void name(TestInfo info) {
        testName = info.getTestMethod().orElseThrow().getName();
    }

    @AfterEach
    void close() {
        if (harness != null) {
            harness.close();
        }
    }

    private void start(ToolWorkerConfig config, Tool... tools) {
        ToolRegistry.Builder registry = ToolRegistry.builder();
        for (Tool tool : tools) {
            registry.add(tool);
        }
        harness = new ToolWorkerHarness(testName, config.withGroupId(testName), registry.build()).start();
    }

    private Map<String, ToolResult> byHash(int count) {
        await().atMost(ToolWorkerHarness.WAIT).until(() -> harness.results().size() >= count);
        return harness.results().stream()
                .collect(Collectors.toMap(ToolResult::getCallHash, r -> r, (first, later) -> later));
    }

    private static ToolCall batch(ToolSpec spec, List<String> arguments) {
        List<BatchItem> items = new ArrayList<>();
        for (String argument : arguments) {
            String canonical = CallHash.canonicalJson(argument);
            items.add(new BatchItem(CallHash.ofCanonicalCall(spec, canonical), canonical));
        }
        return ToolCall.newBuilder()
                .setCallHash("group-" + arguments.size())
                .setBatchId("b")
                .setTool(spec)
                .setArgumentsJson("[]")
                .setDispatchedAtMs(System.currentTimeMillis())
                .setBatchItems(items)
                .build();
    }

    @Test
    void shouldAnswerArgumentsThatBreakTheSchemaWithAnErrorNamingTheProblemWithoutRunningTheTool() {
        AtomicInteger runs = new AtomicInteger();
        start(ToolWorkerConfig.defaults(), tool("echo", (a, c) -> "ran " + runs.incrementAndGet()));
        ToolSpec echo = spec("echo").setParametersJson(TEXT_SCHEMA).build();

        harness.send(call(echo, "{\"text\":\"far too long a text\"}"));
        harness.send(call(echo, "{\"text\":\"ok\"}"));

        await().atMost(ToolWorkerHarness.WAIT).until(() -> harness.results().size() == 2);
        ToolResult refused = harness.results().get(0);
        assertThat(refused.getStatus()).isEqualTo(ToolStatus.ERROR);
        assertThat(refused.getExecuted()).isFalse();
        assertThat(refused.getError())
                .isEqualTo("the arguments of tool 'echo' do not match its parameters schema: "
                        + "$.text: must be at most 10 characters long. Call it again with arguments that do.");
        assertThat(harness.results().get(1).getOutput()).isEqualTo("ran 1");
        assertThat(runs).hasValue(1);
    }

    @Test
    void shouldRunTheBatchHandlerOnceForTheItemsThatNeedItAndAnswerEachItemUnderItsOwnHash() {
        List<List<String>> handled = new CopyOnWriteArrayList<>();
        BatchTool upper = new BatchTool() {
            @Override
            public String name() {
                return "upper";
            }

            @Override
            public List<Outcome> executeBatch(List<JsonNode> arguments, ToolContext context) {
                handled.add(arguments.stream().map(a -> a.path("text").asText()).toList());
                return arguments.stream()
                        .map(a -> a.path("text").asText().equals("boom")
                                ? Outcome.error("cannot shout 'boom'")
                                : Outcome.ok(a.path("text").asText().toUpperCase()))
                        .toList();
            }
        };
        start(ToolWorkerConfig.defaults(), upper);
        ToolSpec spec = spec("upper")
                .setParametersJson(TEXT_SCHEMA)
                .setBatchable(true)
                .setCacheable(true)
                .setCacheTtlMs(60_000)
                .build();
        harness.send(call(spec, "{\"text\":\"cached\"}"));
        await().atMost(ToolWorkerHarness.WAIT).until(() -> harness.results().size() == 1);

        ToolCall group = batch(
                spec,
                List.of(
                        "{\"text\":\"a\"}",
                        "{\"text\":\"cached\"}",
                        "{\"text\":\"much too long\"}",
                        "{\"text\":\"boom\"}",
                        "{\"text\":\"b\"}"));
        harness.send(group);

        Map<String, ToolResult> results = byHash(6);
        List<BatchItem> items = group.getBatchItems();
        assertThat(handled).containsExactly(List.of("cached"), List.of("a", "boom", "b"));
        assertThat(results.get(items.get(0).getCallHash()).getOutput()).isEqualTo("A");
        assertThat(results.get(items.get(0).getCallHash()).getBatchSize()).isEqualTo(3);
        assertThat(results.get(items.get(1).getCallHash()).getExecuted()).isFalse();
        assertThat(results.get(items.get(1).getCallHash()).getOutput()).isEqualTo("CACHED");
        assertThat(results.get(items.get(2).getCallHash()).getError()).contains("must be at most 10 characters long");
        assertThat(results.get(items.get(3).getCallHash()).getError()).isEqualTo("tool 'upper': cannot shout 'boom'");
        assertThat(results.get(items.get(4).getCallHash()).getOutput()).isEqualTo("B");
        assertThat(results).doesNotContainKey(group.getCallHash());
        assertThat(harness.worker.counters().executions("upper")).isEqualTo(2);
        assertThat(harness.worker.metrics().snapshot().get("upper").calls()).isEqualTo(6);
    }

    @Test
    void shouldRunTheItemsOfABatchOneByOneWhenTheToolHasNoBatchHandler() {
        AtomicInteger runs = new AtomicInteger();
        start(
                ToolWorkerConfig.defaults(),
                tool("plain", (a, c) -> a.path("n").asText() + "/" + runs.incrementAndGet()));
        ToolCall group =
                batch(spec("plain").setBatchable(true).build(), List.of("{\"n\":1}", "{\"n\":2}", "{\"n\":3}"));

        harness.send(group);

        Map<String, ToolResult> results = byHash(3);
        assertThat(runs).hasValue(3);
        assertThat(group.getBatchItems())
                .allSatisfy(item ->
                        assertThat(results.get(item.getCallHash()).getStatus()).isEqualTo(ToolStatus.OK));
        assertThat(results.get(group.getBatchItems().get(1).getCallHash()).getOutput())
                .startsWith("2/");
    }

    @Test
    void shouldPostTheArgumentsOfAnHttpToolToItsUrlOnlyOnAllowedHosts() throws Exception {
        try (TestHttpServer server = new TestHttpServer()
                .on("/weather", e -> TestHttpServer.respond(e, 200, "application/json", "{\"sky\":\"clear\"}"))
                .on("/broken", e -> TestHttpServer.respond(e, 503, "text/plain", "down for maintenance"))) {
            start(ToolWorkerConfig.defaults().withHttpToolHosts(Set.of("127.0.0.1")));
            ToolCall weather =
                    call(spec("weather").setHttpUrl(server.url("/weather")).build(), "{\"city\":\"Oslo\"}");
            ToolCall broken =
                    call(spec("broken").setHttpUrl(server.url("/broken")).build(), "{}");
            ToolCall elsewhere = call(
                    spec("elsewhere")
                            .setHttpUrl("http://169.254.169.254/latest")
                            .build(),
                    "{}");

            harness.send(weather);
            harness.send(broken);
            harness.send(elsewhere);

            Map<String, ToolResult> results = byHash(3);
            assertThat(results.get(weather.getCallHash()).getOutput()).isEqualTo("{\"sky\":\"clear\"}");
            TestHttpServer.Seen posted = server.seen().stream()
                    .filter(s -> s.uri().equals("/weather"))
                    .findFirst()
                    .orElseThrow();
            assertThat(posted.method()).isEqualTo("POST");
            assertThat(posted.contentType()).isEqualTo("application/json");
            assertThat(posted.body()).isEqualTo("{\"city\":\"Oslo\"}");
            assertThat(results.get(broken.getCallHash()).getError())
                    .contains("got HTTP 503 from 127.0.0.1: down for maintenance");
            assertThat(results.get(elsewhere.getCallHash()).getError())
                    .isEqualTo(
                            "HTTP tool 'elsewhere' may not call 169.254.169.254: the tool workers allow HTTP tools to reach only: 127.0.0.1");
            assertThat(server.seen()).hasSize(2);
        }
    }

    @Test
    void shouldRefuseAToolOfAnMcpServerThatIsNotConfigured() {
        start(ToolWorkerConfig.defaults());

        harness.send(call(spec("read_repo").setMcpServer("github").build(), "{}"));

        assertThat(harness.awaitResult(1).getError())
                .isEqualTo(
                        "tool 'read_repo' is declared on MCP server 'github', which is not configured on this worker; configured: none");
    }

    @Test
    void shouldTimeOutACallThatItsLimitsCannotAdmitBeforeItsDeadline() {
        start(
                ToolWorkerConfig.defaults(),
                tool("paid_api", (a, c) -> "paid " + a.path("n").asInt()));
        ToolSpec spec =
                spec("paid_api").setRateLimitPerSecond(0.5).setTimeoutMs(300).build();

        harness.send(call(spec, "{\"n\":1}"));
        harness.send(call(spec, "{\"n\":2}"));

        await().atMost(ToolWorkerHarness.WAIT).until(() -> harness.results().size() == 2);
        assertThat(harness.results())
                .extracting(ToolResult::getStatus)
                .containsExactlyInAnyOrder(ToolStatus.OK, ToolStatus.TIMEOUT);
        assertThat(harness.results())
                .filteredOn(r -> r.getStatus() == ToolStatus.TIMEOUT)
                .singleElement()
                .satisfies(
                        r -> assertThat(r.getError())
                                .isEqualTo(
                                        "tool 'paid_api' could not start before its deadline: its rate limit 0.5/s admitted it no sooner"));
    }
}
