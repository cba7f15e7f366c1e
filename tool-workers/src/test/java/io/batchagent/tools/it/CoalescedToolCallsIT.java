package io.batchagent.tools.it;

import static io.batchagent.tools.TestTools.tool;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.events.ToolRequest;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import io.batchagent.tools.BatchTool;
import io.batchagent.tools.ToolContext;
import io.batchagent.tools.ToolRegistry;
import io.batchagent.tools.ToolWorkerConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Coalescer and tool worker together on a real broker: batchable tools run once per window, and
 * failures of a shared execution reach every agent that waits on it.
 */
@WithKafka
class CoalescedToolCallsIT {

    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    static Path stateDir;

    private static String table;
    private static CustomerLookupTool customers;
    private static final AtomicInteger hangRuns = new AtomicInteger();
    private static final AtomicInteger explodeRuns = new AtomicInteger();
    private static final AtomicInteger stuckBatches = new AtomicInteger();
    private static CoalescerPipeline pipeline;

    @BeforeAll
    static void start(KafkaCluster kafka, TestInfo info) throws Exception {
        TestNames names = TestNames.of(info);
        table = "customers_" + names.name().replaceAll("[^a-z0-9]", "_").replaceAll("^.*_([0-9a-f]{6})$", "$1") + "_it";
        CustomerLookupTool.dropTable(table);
        CustomerLookupTool.createTable(table, 40);
        customers = new CustomerLookupTool(table);
        ToolRegistry registry = ToolRegistry.builder()
                .add(customers)
                .add(tool("hang", (arguments, context) -> {
                    hangRuns.incrementAndGet();
                    new CountDownLatch(1).await(); // only the timeout ends it
                    return "unreachable";
                }))
                .add(tool("explode", (arguments, context) -> {
                    explodeRuns.incrementAndGet();
                    throw new IllegalStateException("the service fell over");
                }))
                .add(new BatchTool() {
                    @Override
                    public String name() {
                        return "stuck_batch";
                    }

                    @Override
                    public List<Outcome> executeBatch(List<JsonNode> arguments, ToolContext context)
                            throws InterruptedException {
                        stuckBatches.incrementAndGet();
                        new CountDownLatch(1).await();
                        return List.of();
                    }
                })
                .build();
        pipeline = new CoalescerPipeline(kafka, names, stateDir, ToolWorkerConfig.defaults(), registry);
    }

    @AfterAll
    static void stop() throws Exception {
        if (pipeline != null) {
            pipeline.close();
        }
        CustomerLookupTool.dropTable(table);
    }

    @Test
    void shouldRunTheBatchHandlerOnceForThirtyDistinctCallsWithinTheWindowAndAnswerEachCaller() {
        ToolSpec spec = ToolSpec.newBuilder()
                .setName(CustomerLookupTool.NAME)
                .setBatchable(true)
                .setBatchWindowMs(300)
                .setParametersJson(
                        "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"}},\"required\":[\"id\"]}")
                .setTimeoutMs(10_000)
                .build();
        List<ToolRequest> requests = IntStream.range(0, 30)
                .mapToObj(i -> CoalescerPipeline.request("batch-job-" + i, spec, "{\"id\":\"c" + i + "\"}"))
                .toList();

        pipeline.send(requests);
        Map<String, ToolResponse> responses = pipeline.awaitResponses(
                requests.stream().map(ToolRequest::getJobId).toList(), WAIT);

        assertThat(customers.batches()).containsExactly(30);
        for (int i = 0; i < 30; i++) {
            ToolResponse response = responses.get("batch-job-" + i);
            assertThat(response.getResult().getStatus()).isEqualTo(ToolStatus.OK);
            assertThat(response.getResult().getOutput())
                    .isEqualTo("{\"id\":\"c" + i + "\",\"name\":\"Customer " + i + "\"}");
            assertThat(response.getResult().getBatchSize()).isEqualTo(30);
            assertThat(response.getCallId()).isEqualTo("call-batch-job-" + i);
        }
    }

    @Test
    void shouldGiveEveryCoalescedWaiterTheTimeoutOfTheSharedExecution() {
        ToolSpec spec = ToolSpec.newBuilder().setName("hang").setTimeoutMs(300).build();
        List<ToolRequest> requests = IntStream.range(0, 4)
                .mapToObj(i -> CoalescerPipeline.request("hang-job-" + i, spec, "{\"q\":\"same\"}"))
                .toList();

        pipeline.send(requests);
        Map<String, ToolResponse> responses = pipeline.awaitResponses(
                requests.stream().map(ToolRequest::getJobId).toList(), WAIT);

        assertThat(hangRuns).hasValue(1);
        assertThat(responses.values()).allSatisfy(response -> {
            assertThat(response.getResult().getStatus()).isEqualTo(ToolStatus.TIMEOUT);
            assertThat(response.getResult().getError()).isEqualTo("tool 'hang' timed out after 300 ms");
        });
        assertThat(responses.values()).filteredOn(ToolResponse::getCoalesced).hasSize(3);
    }

    @Test
    void shouldGiveEveryCoalescedWaiterTheErrorOfTheSharedExecution() {
        ToolSpec spec =
                ToolSpec.newBuilder().setName("explode").setTimeoutMs(5_000).build();
        List<ToolRequest> requests = IntStream.range(0, 4)
                .mapToObj(i -> CoalescerPipeline.request("explode-job-" + i, spec, "{\"q\":\"same\"}"))
                .toList();

        pipeline.send(requests);
        Map<String, ToolResponse> responses = pipeline.awaitResponses(
                requests.stream().map(ToolRequest::getJobId).toList(), WAIT);

        assertThat(explodeRuns).hasValue(1);
        assertThat(responses.values()).allSatisfy(response -> {
            assertThat(response.getResult().getStatus()).isEqualTo(ToolStatus.ERROR);
            assertThat(response.getResult().getError())
                    .isEqualTo("tool 'explode' failed: java.lang.IllegalStateException: the service fell over");
        });
    }

    @Test
    void shouldGiveEveryCallOfATimedOutBatchTheTimeoutIncludingDuplicates() {
        ToolSpec spec = ToolSpec.newBuilder()
                .setName("stuck_batch")
                .setBatchable(true)
                .setBatchWindowMs(200)
                .setTimeoutMs(300)
                .build();
        List<ToolRequest> requests = new ArrayList<>();
        IntStream.range(0, 5)
                .forEach(i -> requests.add(CoalescerPipeline.request("stuck-job-" + i, spec, "{\"n\":" + i + "}")));
        requests.add(CoalescerPipeline.request("stuck-job-dup", spec, "{\"n\":0}"));

        pipeline.send(requests);
        Map<String, ToolResponse> responses = pipeline.awaitResponses(
                requests.stream().map(ToolRequest::getJobId).toList(), WAIT);

        assertThat(stuckBatches).hasValue(1);
        assertThat(responses).hasSize(6);
        assertThat(responses.values()).allSatisfy(response -> {
            assertThat(response.getResult().getStatus()).isEqualTo(ToolStatus.TIMEOUT);
            assertThat(response.getResult().getError())
                    .isEqualTo("tool 'stuck_batch' timed out after 300 ms (a batch of 5 calls)");
        });
    }
}
