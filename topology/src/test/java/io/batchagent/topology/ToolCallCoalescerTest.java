package io.batchagent.topology;

import static io.batchagent.topology.TopologyFixtures.TOPICS;
import static io.batchagent.topology.TopologyFixtures.input;
import static io.batchagent.topology.TopologyFixtures.ok;
import static io.batchagent.topology.TopologyFixtures.output;
import static io.batchagent.topology.TopologyFixtures.request;
import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.BatchItem;
import io.batchagent.events.OutputRef;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolRequest;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.events.state.PendingCall;
import io.batchagent.schemas.CallHash;
import io.batchagent.schemas.OutputRefs;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ToolCallCoalescerTest {

    @TempDir
    Path stateDir;

    private TopologyTestDriver driver;
    private TestInputTopic<String, ToolRequest> requests;
    private TestInputTopic<String, ToolResult> results;
    private TestOutputTopic<String, ToolCall> calls;
    private TestOutputTopic<String, ToolResponse> responses;

    @BeforeEach
    void setUp() {
        // Queue allowance 1 s, expiry grace 2 s; the fixtures' tools time out after 1 s.
        driver = new TopologyTestDriver(
                ToolCallCoalescer.build(
                        TOPICS,
                        Duration.ofSeconds(1),
                        Duration.ofSeconds(2),
                        Duration.ofMillis(500),
                        ToolCallCoalescer.DEFAULT_BATCH_CHECK),
                TopologyFixtures.props("coalescer-test", stateDir));
        requests = input(driver, TOPICS.toolRequests());
        results = input(driver, TOPICS.toolResults());
        calls = output(driver, TOPICS.toolCalls());
        responses = output(driver, TOPICS.toolResponses());
    }

    @AfterEach
    void tearDown() {
        driver.close();
    }

    private void send(ToolRequest request) {
        requests.pipeInput(request.getCallHash(), request);
    }

    @Test
    void shouldDispatchTheFirstRequestAtOnce() {
        send(request("job-1", 1, "c1", "kv cache"));

        List<ToolCall> dispatched = calls.readValuesToList();
        assertThat(dispatched).singleElement().satisfies(call -> {
            assertThat(call.getTool().getName()).isEqualTo("lookup");
            assertThat(call.getArgumentsJson()).isEqualTo("{\"q\":\"kv cache\"}");
        });
    }

    @Test
    void shouldCoalesceIdenticalCallsWhileTheFirstIsInFlightAndFanOutToEveryWaiter() {
        ToolRequest first = request("job-1", 1, "c1", "kv cache");
        send(first);
        send(request("job-2", 1, "c9", "kv cache"));
        send(request("job-3", 2, "c4", "kv cache"));
        send(request("job-4", 1, "c1", "other topic"));

        assertThat(calls.readKeyValuesToList())
                .extracting(kv -> kv.value.getArgumentsJson())
                .containsExactly("{\"q\":\"kv cache\"}", "{\"q\":\"other topic\"}");

        results.pipeInput(first.getCallHash(), ok(first.getCallHash(), "kv cache facts"));

        List<ToolResponse> fannedOut = responses.readValuesToList();
        assertThat(fannedOut).extracting(ToolResponse::getJobId).containsExactly("job-1", "job-2", "job-3");
        assertThat(fannedOut).extracting(ToolResponse::getCallId).containsExactly("c1", "c9", "c4");
        assertThat(fannedOut).extracting(ToolResponse::getTurn).containsExactly(1, 1, 2);
        assertThat(fannedOut).extracting(r -> r.getResult().getOutput()).containsOnly("kv cache facts");
        assertThat(fannedOut).extracting(ToolResponse::getCoalesced).containsExactly(false, true, true);
    }

    @Test
    void shouldFanOutALargeOutputAsAReferenceToItsToolResultsRecord() {
        ToolRequest first = request("job-1", 1, "c1", "long page");
        send(first);
        send(request("job-2", 1, "c9", "long page"));
        ToolRequest small = request("job-3", 1, "c1", "short page");
        send(small);
        String page = "p".repeat(OutputRefs.INLINE_LIMIT_CHARS);

        results.pipeInput(small.getCallHash(), ok(small.getCallHash(), "short"));
        results.pipeInput(first.getCallHash(), ok(first.getCallHash(), page));

        List<ToolResponse> fannedOut = responses.readValuesToList();
        assertThat(fannedOut.get(0).getResult().getOutput()).isEqualTo("short");
        assertThat(fannedOut.get(0).getResult().getOutputRef()).isNull();
        assertThat(fannedOut.subList(1, 3)).extracting(ToolResponse::getJobId).containsExactly("job-1", "job-2");
        assertThat(fannedOut.subList(1, 3)).allSatisfy(response -> {
            assertThat(response.getResult().getOutput()).isEmpty();
            assertThat(response.getResult().getOutputRef())
                    .isEqualTo(OutputRef.newBuilder()
                            .setTopic(TOPICS.toolResults().name())
                            .setPartition(0)
                            .setOffset(1)
                            .setChars(page.length())
                            .build());
        });
    }

    @Test
    void shouldIgnoreAReplayedRequestOfTheSameWaiter() {
        ToolRequest first = request("job-1", 1, "c1", "kv cache");
        send(first);
        send(first);

        results.pipeInput(first.getCallHash(), ok(first.getCallHash(), "facts"));

        assertThat(calls.getQueueSize()).isEqualTo(1);
        assertThat(responses.readValuesToList()).hasSize(1);
    }

    @Test
    void shouldDispatchAgainAfterTheResultWasFannedOut() {
        ToolRequest first = request("job-1", 1, "c1", "kv cache");
        send(first);
        results.pipeInput(first.getCallHash(), ok(first.getCallHash(), "facts"));
        results.pipeInput(first.getCallHash(), ok(first.getCallHash(), "a repeated result"));

        send(request("job-2", 1, "c1", "kv cache"));

        assertThat(calls.getQueueSize()).isEqualTo(2);
        assertThat(responses.readValuesToList()).hasSize(1);
    }

    @Test
    void shouldGiveUncoalescedToolsOneExecutionPerRequest() {
        String args = CallHash.canonicalJson("{\"q\":\"same\"}");
        for (String job : List.of("job-1", "job-2")) {
            ToolRequest r = request(job, 1, "c1", "same");
            r.setCallHash(CallHash.uncoalesced("lookup", args, job, 1, "c1"));
            r.getTool().setCoalesce(false);
            send(r);
        }

        assertThat(calls.readValuesToList())
                .extracting(ToolCall::getCallHash)
                .doesNotHaveDuplicates()
                .hasSize(2);
    }

    @Test
    void shouldExpireAPendingCallOnWallClockTimeWithoutNewRecords() {
        ToolRequest first = request("job-1", 1, "c1", "kv cache");
        send(first);
        send(request("job-2", 1, "c2", "kv cache"));
        KeyValueStore<String, PendingCall> pending = driver.getKeyValueStore(ToolCallCoalescer.PENDING_STORE);
        KeyValueStore<String, io.batchagent.events.state.Waiter> attached =
                driver.getKeyValueStore(ToolCallCoalescer.WAITERS_STORE);
        assertThat(pending.get(first.getCallHash()).getWaiters())
                .extracting(w -> w.getJobId())
                .containsExactly("job-1");
        assertThat(attached.get(first.getCallHash() + "|job-2|1|1|c2").getJobId())
                .isEqualTo("job-2");

        // Past timeout 1 s + grace 2 s, but the call may still be queued: its deadline allows 1 s more.
        driver.advanceWallClockTime(Duration.ofMillis(3_500));
        assertThat(responses.isEmpty()).isTrue();
        driver.advanceWallClockTime(Duration.ofMillis(1_000));

        List<ToolResponse> expired = responses.readValuesToList();
        assertThat(expired).extracting(ToolResponse::getJobId).containsExactly("job-1", "job-2");
        assertThat(expired).allSatisfy(r -> {
            assertThat(r.getResult().getStatus()).isEqualTo(ToolStatus.TIMEOUT);
            assertThat(r.getResult().getError())
                    .startsWith("no result for tool 'lookup' within ")
                    .contains(
                            "no tool worker answered by its deadline (queue allowance 1000 ms + timeout 1000 ms) plus 2000 ms");
        });
        assertThat(pending.get(first.getCallHash())).isNull();
        assertThat(attached.get(first.getCallHash() + "|job-2|1|1|c2"))
                .as("attached waiters are forgotten after the fan-out")
                .isNull();
    }

    private static ToolRequest batchable(String jobId, String callId, String id, long windowMs, int maxSize) {
        ToolSpec spec = ToolSpec.newBuilder(TopologyFixtures.tool("lookup_customer"))
                .setBatchable(true)
                .setBatchWindowMs(windowMs)
                .setBatchMaxSize(maxSize)
                .build();
        String args = CallHash.canonicalJson("{\"id\":\"" + id + "\"}");
        return ToolRequest.newBuilder(request(jobId, 1, callId, id))
                .setTool(spec)
                .setCallHash(CallHash.ofCanonicalCall(spec, args))
                .setArgumentsJson(args)
                .build();
    }

    @Test
    void shouldCarryTheDeadlineOfDispatchPlusQueueAllowancePlusTimeout() {
        send(request("job-1", 1, "c1", "kv cache"));

        ToolCall call = calls.readValue();
        assertThat(call.getDeadlineMs()).isEqualTo(call.getDispatchedAtMs() + 1_000 + 1_000);
    }

    @Test
    void shouldGiveABatchTheDeadlineOfItsOwnDispatch() {
        send(batchable("job-1", "c1", "a", 50, 100));
        driver.advanceWallClockTime(Duration.ofMillis(60));

        ToolCall call = calls.readValue();
        assertThat(call.getDeadlineMs()).isEqualTo(call.getDispatchedAtMs() + 1_000 + 1_000);
    }

    @Test
    void shouldNeverGroupCallsOfSameNamedBatchableToolsWithDifferentDeclarations() {
        ToolRequest a = batchable("job-1", "c1", "a", 50, 100);
        ToolRequest sameDeclaration = batchable("job-2", "c1", "b", 50, 100);
        ToolSpec elsewhere = ToolSpec.newBuilder(a.getTool())
                .setHttpUrl("http://other.example/customers")
                .build();
        ToolRequest otherDeclaration = ToolRequest.newBuilder(batchable("job-3", "c1", "a", 50, 100))
                .setTool(elsewhere)
                .setCallHash(CallHash.ofCanonicalCall(elsewhere, a.getArgumentsJson()))
                .build();
        send(a);
        send(sameDeclaration);
        send(otherDeclaration);
        driver.advanceWallClockTime(Duration.ofMillis(60));

        Map<String, ToolCall> byUrl = calls.readValuesToList().stream()
                .collect(Collectors.toMap(c -> String.valueOf(c.getTool().getHttpUrl()), Function.identity()));
        assertThat(byUrl).hasSize(2);
        assertThat(byUrl.get("null").getBatchItems())
                .extracting(BatchItem::getCallHash)
                .containsExactly(a.getCallHash(), sameDeclaration.getCallHash());
        assertThat(byUrl.get("http://other.example/customers").getBatchItems())
                .extracting(BatchItem::getCallHash)
                .containsExactly(otherDeclaration.getCallHash());
    }

    @Test
    void shouldGroupDistinctCallsToABatchableToolWithinItsWindowIntoOneCallAndAnswerEachCaller() {
        List<ToolRequest> sent = IntStream.range(0, 30)
                .mapToObj(i -> batchable("job-" + i, "c" + i, "customer-" + i, 50, 100))
                .toList();
        sent.forEach(this::send);

        assertThat(calls.isEmpty()).as("held for the window").isTrue();
        driver.advanceWallClockTime(Duration.ofMillis(60));

        List<ToolCall> dispatched = calls.readValuesToList();
        assertThat(dispatched).singleElement().satisfies(call -> {
            assertThat(call.getTool().getName()).isEqualTo("lookup_customer");
            assertThat(call.getBatchItems())
                    .extracting(BatchItem::getCallHash)
                    .containsExactlyElementsOf(
                            sent.stream().map(ToolRequest::getCallHash).toList());
            assertThat(call.getBatchItems())
                    .extracting(BatchItem::getArgumentsJson)
                    .contains("{\"id\":\"customer-7\"}");
            assertThat(call.getCallHash())
                    .isNotIn(sent.stream().map(ToolRequest::getCallHash).toList());
        });

        for (BatchItem item : dispatched.get(0).getBatchItems()) {
            results.pipeInput(item.getCallHash(), ok(item.getCallHash(), "answer for " + item.getArgumentsJson()));
        }
        Map<String, ToolResponse> byJob = responses.readValuesToList().stream()
                .collect(Collectors.toMap(ToolResponse::getJobId, Function.identity()));
        assertThat(byJob).hasSize(30);
        assertThat(byJob.get("job-7").getResult().getOutput()).isEqualTo("answer for {\"id\":\"customer-7\"}");
        assertThat(byJob.get("job-7").getCallId()).isEqualTo("c7");
        assertThat(driver.getKeyValueStore(ToolCallCoalescer.BATCH_STORE)
                        .get(CallHash.declarationKey(sent.get(0).getTool())))
                .isNull();
    }

    @Test
    void shouldExecuteIdenticalCallsInsideABatchOnceAndAnswerEveryWaiter() {
        ToolRequest first = batchable("job-1", "c1", "same", 50, 100);
        send(first);
        send(batchable("job-2", "c1", "same", 50, 100));
        send(batchable("job-3", "c1", "other", 50, 100));
        driver.advanceWallClockTime(Duration.ofMillis(60));

        ToolCall call = calls.readValue();
        assertThat(call.getBatchItems()).hasSize(2);
        results.pipeInput(first.getCallHash(), ok(first.getCallHash(), "shared"));

        assertThat(responses.readValuesToList())
                .extracting(ToolResponse::getJobId)
                .containsExactly("job-1", "job-2");
    }

    @Test
    void shouldNeverHoldCallsToOrdinaryToolsBehindABatchWindow() {
        send(batchable("job-1", "c1", "a", 10_000, 100));
        send(request("job-2", 1, "c1", "kv cache"));

        assertThat(calls.readValuesToList())
                .singleElement()
                .satisfies(call -> assertThat(call.getBatchItems()).isEmpty())
                .satisfies(call -> assertThat(call.getArgumentsJson()).isEqualTo("{\"q\":\"kv cache\"}"));
    }

    @Test
    void shouldDispatchAFullBatchAtOnceAndTheRestWhenItsWindowCloses() {
        for (int i = 0; i < 7; i++) {
            send(batchable("job-" + i, "c1", "id-" + i, 100, 5));
        }

        assertThat(calls.readValuesToList())
                .singleElement()
                .satisfies(call -> assertThat(call.getBatchItems()).hasSize(5));
        driver.advanceWallClockTime(Duration.ofMillis(50));
        assertThat(calls.isEmpty()).isTrue();
        driver.advanceWallClockTime(Duration.ofMillis(60));
        assertThat(calls.readValuesToList())
                .singleElement()
                .satisfies(call -> assertThat(call.getBatchItems()).hasSize(2));
    }

    @Test
    void shouldGiveBatchedCallsTheirWindowOnTopOfTheTimeoutBeforeExpiring() {
        ToolRequest held =
                batchable("job-1", "c1", "slow", 1_000, 100); // window 1 s, allowance 1 s, timeout 1 s, grace 2 s
        send(held);

        driver.advanceWallClockTime(Duration.ofMillis(4_500));
        assertThat(responses.isEmpty()).isTrue();
        driver.advanceWallClockTime(Duration.ofMillis(600));

        assertThat(responses.readValuesToList())
                .singleElement()
                .satisfies(r -> assertThat(r.getResult().getStatus()).isEqualTo(ToolStatus.TIMEOUT));
    }

    @Test
    void shouldAnswerEachAttemptOfAJobThatAsksForTheSameCallAgain() {
        ToolRequest first = request("job-1", 1, "c1", "kv cache");
        ToolRequest retried = request("job-1", 1, "c1", "kv cache");
        retried.setAttempt(2);

        send(first);
        send(retried);
        results.pipeInput(first.getCallHash(), ok(first.getCallHash(), "answer"));

        assertThat(calls.readValuesToList()).hasSize(1);
        assertThat(responses.readValuesToList())
                .extracting(ToolResponse::getAttempt)
                .containsExactly(1, 2);
    }
}
