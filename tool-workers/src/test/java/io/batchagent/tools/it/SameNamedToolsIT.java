package io.batchagent.tools.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolSpec;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import io.batchagent.tools.ToolRegistry;
import io.batchagent.tools.ToolWorkerConfig;
import io.batchagent.tools.http.TestHttpServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Batches on a real broker that declare a tool of the same name: declarations that run calls
 * differently (another output cap, another HTTP endpoint) never share an execution or a cached
 * result; identical declarations do. The tools are cacheable, so sharing does not depend on timing:
 * a later batch either gets the earlier batch's cached result or runs the call itself.
 */
@WithKafka
class SameNamedToolsIT {

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final String SAME_CALL = "{\"q\":\"same question\"}";

    @TempDir
    static Path stateDir;

    private static final AtomicInteger lookups = new AtomicInteger();
    private static final AtomicInteger hitsOnA = new AtomicInteger();
    private static final AtomicInteger hitsOnB = new AtomicInteger();
    private static TestHttpServer http;
    private static AgentPipeline pipeline;

    @BeforeAll
    static void start(KafkaCluster kafka, TestInfo info) throws Exception {
        http = new TestHttpServer()
                .on(
                        "/a",
                        exchange -> TestHttpServer.respond(
                                exchange, 200, "text/plain", "from A, hit " + hitsOnA.incrementAndGet()))
                .on(
                        "/b",
                        exchange -> TestHttpServer.respond(
                                exchange, 200, "text/plain", "from B, hit " + hitsOnB.incrementAndGet()));
        Tool lookup = new Tool() {
            @Override
            public String name() {
                return "lookup";
            }

            @Override
            public String execute(JsonNode arguments, ToolContext context) {
                return "answer " + lookups.incrementAndGet() + ": " + "x".repeat(300);
            }
        };
        pipeline = new AgentPipeline(
                kafka,
                TestNames.of(info),
                stateDir,
                ToolWorkerConfig.defaults().withHttpToolHosts(Set.of("127.0.0.1")),
                ToolRegistry.builder().add(lookup).build());
    }

    @AfterAll
    static void stop() {
        if (pipeline != null) {
            pipeline.close();
        }
        if (http != null) {
            http.close();
        }
    }

    private static ToolSpec.Builder cacheable(String name) {
        return ToolSpec.newBuilder()
                .setName(name)
                .setCacheable(true)
                .setCacheTtlMs(600_000)
                .setTimeoutMs(30_000);
    }

    @Test
    void shouldRunACallAgainForABatchThatCapsTheToolsOutputDifferentlyAndShareItWithAnIdenticalDeclaration() {
        ToolResult full =
                callOnce("cap-a", cacheable("lookup").setMaxOutputChars(16_384).build(), "lookup");
        ToolResult capped =
                callOnce("cap-b", cacheable("lookup").setMaxOutputChars(100).build(), "lookup");
        ToolResult again =
                callOnce("cap-c", cacheable("lookup").setMaxOutputChars(16_384).build(), "lookup");

        assertThat(full.getOutput()).startsWith("answer 1: ").hasSize(310);
        assertThat(full.getExecuted()).isTrue();
        assertThat(capped.getExecuted())
                .as("a declaration with another output cap runs its own call")
                .isTrue();
        assertThat(capped.getOutput())
                .startsWith("answer 2: ")
                .hasSizeLessThanOrEqualTo(100)
                .contains("[truncated");
        assertThat(again.getExecuted())
                .as("an identical declaration shares the cached result")
                .isFalse();
        assertThat(again.getOutput()).isEqualTo(full.getOutput());
        assertThat(lookups).hasValue(2);
        assertThat(capped.getCallHash()).isNotEqualTo(full.getCallHash());
        assertThat(again.getCallHash()).isEqualTo(full.getCallHash());
    }

    @Test
    void shouldCallEachBatchsOwnEndpointForSameNamedHttpToolsAndShareResultsOnlyBetweenIdenticalDeclarations() {
        ToolResult fromA = callOnce(
                "url-a", cacheable("fetch_record").setHttpUrl(http.url("/a")).build(), "fetch_record");
        ToolResult fromB = callOnce(
                "url-b", cacheable("fetch_record").setHttpUrl(http.url("/b")).build(), "fetch_record");
        ToolResult fromAAgain = callOnce(
                "url-a2", cacheable("fetch_record").setHttpUrl(http.url("/a")).build(), "fetch_record");

        assertThat(fromA.getOutput()).isEqualTo("from A, hit 1");
        assertThat(fromB.getOutput())
                .as("batch B's endpoint, not batch A's cached answer")
                .isEqualTo("from B, hit 1");
        assertThat(fromB.getExecuted()).isTrue();
        assertThat(fromAAgain.getOutput()).isEqualTo("from A, hit 1");
        assertThat(fromAAgain.getExecuted()).isFalse();
        assertThat(hitsOnA).hasValue(1);
        assertThat(hitsOnB).hasValue(1);
    }

    /** Runs a batch of one agent that calls {@code tool} with {@link #SAME_CALL}; returns the result its call got. */
    private static ToolResult callOnce(String batchId, ToolSpec declaration, String tool) {
        List<String> jobs = pipeline.submit(batchId, List.of(declaration), List.of(tool + " " + SAME_CALL));
        Map<String, AgentResult> results = pipeline.awaitResults(jobs, WAIT);
        assertThat(results.get(jobs.get(0)).getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        List<ToolResponse> responses = pipeline.toolResponses(jobs.get(0));
        assertThat(responses).as("tool responses of %s", jobs.get(0)).hasSize(1);
        return responses.get(0).getResult();
    }
}
