package io.batchagent.tools;

import static io.batchagent.tools.TestTools.call;
import static io.batchagent.tools.TestTools.hangsUntilInterrupted;
import static io.batchagent.tools.TestTools.queued;
import static io.batchagent.tools.TestTools.spec;
import static io.batchagent.tools.TestTools.tool;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.batchagent.events.DeadLetter;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.schemas.Topics;
import io.batchagent.tools.builtin.EchoTool;
import io.batchagent.tools.builtin.SimSearchTool;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

class ToolWorkerTest {

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

    private ToolWorkerHarness start(ToolWorkerConfig config, Tool... tools) {
        ToolRegistry.Builder registry = ToolRegistry.builder();
        for (Tool tool : tools) {
            registry.add(tool);
        }
        harness = new ToolWorkerHarness(testName, config.withGroupId(testName), registry.build()).start();
        return harness;
    }

    private ToolWorkerHarness start(Tool... tools) {
        return start(ToolWorkerConfig.defaults(), tools);
    }

    @Test
    void shouldPublishOkResultKeyedByCallHashAndCommitItsOffset() {
        start(new EchoTool());
        ToolCall echo = call("echo", "{\"text\":\"hello\"}");

        harness.send(echo);

        ToolResult result = harness.awaitResult(1);
        assertThat(result.getStatus()).isEqualTo(ToolStatus.OK);
        assertThat(result.getOutput()).isEqualTo("hello");
        assertThat(result.getError()).isNull();
        assertThat(result.getCallHash()).isEqualTo(echo.getCallHash());
        assertThat(result.getTool()).isEqualTo("echo");
        assertThat(result.getExecuted()).isTrue();
        assertThat(result.getFinishedAtMs())
                .isGreaterThanOrEqualTo(result.getStartedAtMs())
                .isPositive();
        ProducerRecord<byte[], byte[]> record = harness.resultRecords().get(0);
        assertThat(new String(record.key(), StandardCharsets.UTF_8)).isEqualTo(echo.getCallHash());
        await().atMost(ToolWorkerHarness.WAIT).until(() -> harness.committed().equals(Optional.of(1L)));
        assertThat(harness.worker.counters().executions("echo")).isEqualTo(1);
    }

    @Test
    void shouldCommitOffsetOnlyAfterResultIsAcknowledged() {
        harness = new ToolWorkerHarness(
                        testName,
                        ToolWorkerConfig.defaults().withGroupId(testName),
                        ToolRegistry.builder().add(new EchoTool()).build(),
                        false)
                .start();

        harness.send(call("echo", "{\"text\":\"hello\"}"));
        await().atMost(ToolWorkerHarness.WAIT)
                .until(() -> harness.producer.history().size() == 1);

        // Unacknowledged, the call is still in flight and the group's position cannot have passed it.
        assertThat(harness.worker.inFlight()).isEqualTo(1);
        assertThat(harness.committed().orElse(0L)).isZero();
        harness.producer.completeNext();
        await().atMost(ToolWorkerHarness.WAIT).until(() -> harness.committed().equals(Optional.of(1L)));
        assertThat(harness.worker.inFlight()).isZero();
    }

    @Test
    void shouldRetryACallWhoseResultCouldNotBePublishedAndGoOn() {
        harness = new ToolWorkerHarness(
                        testName,
                        ToolWorkerConfig.defaults().withGroupId(testName),
                        ToolRegistry.builder().add(new EchoTool()).build(),
                        false)
                .start();

        harness.send(call("echo", "{\"text\":\"lost\"}"));
        await().atMost(ToolWorkerHarness.WAIT)
                .until(() -> harness.producer.history().size() == 1);
        harness.producer.errorNext(new org.apache.kafka.common.errors.TimeoutException("delivery timed out"));

        // The call is handled again (the consumer loop retries a failed stage) and its result published.
        await().atMost(ToolWorkerHarness.WAIT)
                .until(() -> harness.producer.history().size() == 2);
        assertThat(harness.committed().orElse(0L)).isZero();
        harness.producer.completeNext();
        harness.send(call("echo", "{\"text\":\"next\"}"));
        await().atMost(ToolWorkerHarness.WAIT)
                .until(() -> harness.producer.history().size() == 3);
        harness.producer.completeNext();

        await().atMost(ToolWorkerHarness.WAIT).until(() -> harness.committed().equals(Optional.of(2L)));
        assertThat(harness.results()).extracting(ToolResult::getOutput).containsExactly("lost", "lost", "next");
        assertThat(harness.worker.counters().publishFailures()).isZero();
        assertThat(harness.worker.isRunning()).isTrue();
    }

    @Test
    void shouldBuildRealKafkaClientsFromConfig() {
        Map<String, Object> kafka = Map.of("bootstrap.servers", "localhost:1", "producer.compression.type", "zstd");
        ToolRegistry registry = ToolRegistry.builder().add(new EchoTool()).build();

        // The real clients validate their config on construction and connect only when used.
        ToolWorker worker =
                new ToolWorker(kafka, Topics.create(testName + ".", Map.of()), ToolWorkerConfig.defaults(), registry);

        assertThat(worker.isRunning()).isFalse();
        worker.close();
        worker.close();
        assertThatThrownBy(worker::start)
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("tool worker is closed");
    }

    @Test
    void shouldAnswerUnknownToolWithErrorNamingInstalledTools() {
        start(new EchoTool(), new SimSearchTool(Duration.ZERO));

        harness.send(call("web_search", "{\"query\":\"kafka\"}"));

        ToolResult result = harness.awaitResult(1);
        assertThat(result.getStatus()).isEqualTo(ToolStatus.ERROR);
        assertThat(result.getError())
                .isEqualTo("no tool named 'web_search' is installed on this worker; installed: echo, sim_search");
        assertThat(result.getOutput()).isEqualTo(result.getError());
        assertThat(harness.worker.counters().failures()).isEqualTo(1);
        assertThat(harness.worker.counters().executionsByTool()).isEmpty();
    }

    @Test
    void shouldAnswerArgumentsThatAreNotJsonWithError() {
        start(new EchoTool());
        ToolCall call = ToolCall.newBuilder(call("echo", "{}"))
                .setArgumentsJson("{\"text\": ")
                .build();

        harness.send(call);

        ToolResult result = harness.awaitResult(1);
        assertThat(result.getStatus()).isEqualTo(ToolStatus.ERROR);
        assertThat(result.getError()).startsWith("the arguments of tool 'echo' are not valid JSON");
        assertThat(harness.worker.counters().executions("echo")).isZero();
    }

    @Test
    void shouldReportThrowingToolAsErrorAndProcessTheNextCall() {
        start(new EchoTool(), tool("explode", (args, ctx) -> {
            throw new IllegalStateException("disk on fire");
        }));
        ToolCall explode = call("explode", "{}");
        ToolCall echo = call("echo", "{\"text\":\"still here\"}");

        harness.send(explode);
        harness.send(echo);

        await().atMost(ToolWorkerHarness.WAIT).until(() -> harness.results().size() == 2);
        ToolResult failed = resultFor(explode);
        assertThat(failed.getStatus()).isEqualTo(ToolStatus.ERROR);
        assertThat(failed.getError()).isEqualTo("tool 'explode' failed: java.lang.IllegalStateException: disk on fire");
        assertThat(resultFor(echo).getStatus()).isEqualTo(ToolStatus.OK);
        assertThat(resultFor(echo).getOutput()).isEqualTo("still here");
        assertThat(harness.worker.isRunning()).isTrue();
        assertThat(harness.worker.counters().failures()).isEqualTo(1);
    }

    @Test
    void shouldTimeOutHangingToolInterruptItAndProcessTheNextCall() {
        CountDownLatch interrupted = new CountDownLatch(1);
        start(new EchoTool(), hangsUntilInterrupted("hang", new CountDownLatch(1), interrupted));
        ToolCall hang = call(spec("hang").setTimeoutMs(200).build(), "{}");
        ToolCall echo = call("echo", "{\"text\":\"next\"}");

        harness.send(hang);
        harness.send(echo);

        await().atMost(ToolWorkerHarness.WAIT).until(() -> harness.results().size() == 2);
        ToolResult timedOut = resultFor(hang);
        assertThat(timedOut.getStatus()).isEqualTo(ToolStatus.TIMEOUT);
        assertThat(timedOut.getError()).isEqualTo("tool 'hang' timed out after 200 ms");
        assertThat(timedOut.getFinishedAtMs() - timedOut.getStartedAtMs()).isGreaterThanOrEqualTo(200);
        assertThat(resultFor(echo).getStatus()).isEqualTo(ToolStatus.OK);
        await().atMost(ToolWorkerHarness.WAIT).until(() -> interrupted.getCount() == 0);
        assertThat(harness.worker.counters().timeouts()).isEqualTo(1);
        // The interrupted tool's late ERROR must not become a second result.
        await().atMost(ToolWorkerHarness.WAIT).until(() -> harness.committed().equals(Optional.of(2L)));
        assertThat(harness.results()).hasSize(2);
    }

    @Test
    void shouldAnswerACallWhoseDeadlinePassedInTheQueueWithTimeoutWithoutRunningIt() {
        AtomicInteger runs = new AtomicInteger();
        start(tool("lookup", (args, ctx) -> "answer " + runs.incrementAndGet()));
        ToolCall late = queued(spec("lookup").setTimeoutMs(1_000).build(), "{\"q\":1}", 40_000, -1_000);

        harness.send(late);

        ToolResult result = harness.awaitResult(1);
        assertThat(result.getStatus()).isEqualTo(ToolStatus.TIMEOUT);
        assertThat(result.getError())
                .matches(
                        "tool 'lookup' expired in queue after \\d+ ms and was not run: no tool worker could "
                                + "pick it up before its deadline \\(its timeout is 1000 ms; the rest was its allowance for waiting in the queue\\)");
        assertThat(result.getExecuted()).isFalse();
        assertThat(runs).hasValue(0);
        assertThat(harness.worker.counters().executions("lookup")).isZero();
        assertThat(harness.worker.counters().expiredInQueue()).isEqualTo(1);
        assertThat(harness.worker.counters().timeouts()).isEqualTo(1);
    }

    @Test
    void shouldRunACallQueuedLongerThanItsTimeoutWhileItsDeadlineHasNotPassed() {
        start(new EchoTool());

        harness.send(queued(spec("echo").setTimeoutMs(1_000).build(), "{\"text\":\"still wanted\"}", 5_000, 30_000));

        ToolResult result = harness.awaitResult(1);
        assertThat(result.getStatus()).isEqualTo(ToolStatus.OK);
        assertThat(result.getOutput()).isEqualTo("still wanted");
        assertThat(harness.worker.counters().expiredInQueue()).isZero();
    }

    @Test
    void shouldAnswerAnExpiredCallFromTheCacheWhenItHasTheResult() {
        AtomicInteger runs = new AtomicInteger();
        start(tool("lookup", (args, ctx) -> "answer " + runs.incrementAndGet()));
        ToolSpec cacheable =
                spec("lookup").setCacheable(true).setCacheTtlMs(60_000).build();
        harness.send(call(cacheable, "{\"q\":1}"));
        harness.awaitResult(1);

        harness.send(queued(cacheable, "{\"q\":1}", 40_000, -1_000));

        ToolResult second = harness.awaitResult(2);
        assertThat(second.getStatus()).isEqualTo(ToolStatus.OK);
        assertThat(second.getOutput()).isEqualTo("answer 1");
        assertThat(second.getExecuted()).isFalse();
        assertThat(harness.worker.counters().expiredInQueue()).isZero();
    }

    @Test
    void shouldCutARunAtTheDeadlineItWasDispatchedWithWhenThatComesBeforeItsTimeout() {
        CountDownLatch interrupted = new CountDownLatch(1);
        start(hangsUntilInterrupted("hang", new CountDownLatch(1), interrupted));

        harness.send(queued(spec("hang").setTimeoutMs(60_000).build(), "{}", 10_000, 300));

        ToolResult result = harness.awaitResult(1);
        assertThat(result.getStatus()).isEqualTo(ToolStatus.TIMEOUT);
        assertThat(result.getError())
                .matches("tool 'hang' timed out after \\d+ ms, at its deadline \\(it had waited \\d+ ms "
                        + "to be picked up; its timeout is 60000 ms\\)");
        assertThat(result.getExecuted()).isTrue();
        assertThat(awaitQuietly(interrupted)).isTrue();
    }

    @Test
    void shouldTruncateLongOutputWithMarkerSayingHowMuchWasCut() {
        start(tool("long", (args, ctx) -> "x".repeat(1000)));

        harness.send(call(spec("long").setMaxOutputChars(100).build(), "{}"));

        String output = harness.awaitResult(1).getOutput();
        assertThat(output).hasSizeLessThanOrEqualTo(100);
        int kept = output.indexOf('\n');
        assertThat(output.substring(0, kept)).isEqualTo("x".repeat(kept));
        assertThat(output.substring(kept)).isEqualTo("\n[truncated: " + (1000 - kept) + " of 1000 characters cut]");
    }

    @Test
    void shouldServeRepeatedCacheableCallFromCacheWithoutSecondExecution() {
        AtomicInteger runs = new AtomicInteger();
        start(tool("lookup", (args, ctx) -> "answer " + runs.incrementAndGet()));
        ToolCall lookup =
                call(spec("lookup").setCacheable(true).setCacheTtlMs(60_000).build(), "{\"q\":1}");

        harness.send(lookup);
        ToolResult first = harness.awaitResult(1);
        harness.send(lookup);
        ToolResult second = harness.awaitResult(2);

        assertThat(first.getExecuted()).isTrue();
        assertThat(second.getExecuted()).isFalse();
        assertThat(second.getStatus()).isEqualTo(ToolStatus.OK);
        assertThat(second.getOutput()).isEqualTo(first.getOutput()).isEqualTo("answer 1");
        assertThat(second.getCallHash()).isEqualTo(lookup.getCallHash());
        assertThat(runs).hasValue(1);
        assertThat(harness.worker.counters().cacheHits()).isEqualTo(1);
        assertThat(harness.worker.counters().executions("lookup")).isEqualTo(1);
    }

    @Test
    void shouldRunCallAgainWhenSpecIsNotCacheable() {
        AtomicInteger runs = new AtomicInteger();
        start(tool("lookup", (args, ctx) -> "answer " + runs.incrementAndGet()));
        // cacheable without a TTL is not cacheable
        ToolCall lookup =
                call(spec("lookup").setCacheable(true).setCacheTtlMs(0).build(), "{}");

        harness.send(lookup);
        harness.awaitResult(1);
        harness.send(lookup);
        ToolResult second = harness.awaitResult(2);

        assertThat(second.getExecuted()).isTrue();
        assertThat(second.getOutput()).isEqualTo("answer 2");
        assertThat(harness.worker.counters().cacheHits()).isZero();
    }

    @Test
    void shouldNotCacheFailedResults() {
        AtomicInteger runs = new AtomicInteger();
        start(tool("flaky", (args, ctx) -> {
            if (runs.incrementAndGet() == 1) {
                throw new java.io.IOException("connection reset");
            }
            return "recovered";
        }));
        ToolCall flaky =
                call(spec("flaky").setCacheable(true).setCacheTtlMs(60_000).build(), "{}");

        harness.send(flaky);
        assertThat(harness.awaitResult(1).getStatus()).isEqualTo(ToolStatus.ERROR);
        harness.send(flaky);
        ToolResult second = harness.awaitResult(2);

        assertThat(second.getStatus()).isEqualTo(ToolStatus.OK);
        assertThat(second.getExecuted()).isTrue();
        assertThat(runs).hasValue(2);
    }

    @Test
    void shouldDeadLetterUndecodableRecordAndProcessTheNextOne() {
        start(new EchoTool());
        byte[] garbage = "not avro".getBytes(StandardCharsets.UTF_8);
        byte[] key = "some-key".getBytes(StandardCharsets.UTF_8);

        long badOffset = harness.sendRaw(key, garbage);
        ToolCall echo = call("echo", "{\"text\":\"after\"}");
        harness.send(echo);

        ToolResult result = harness.awaitResult(1);
        assertThat(result.getOutput()).isEqualTo("after");
        await().atMost(ToolWorkerHarness.WAIT).until(() -> harness.deadLetters().size() == 1);
        DeadLetter letter = harness.deadLetters().get(0);
        assertThat(letter.getStage()).isEqualTo("tools");
        assertThat(letter.getTopic()).isEqualTo(harness.topics.toolCalls().name());
        assertThat(letter.getPartition()).isZero();
        assertThat(letter.getOffset()).isEqualTo(badOffset);
        assertThat(bytes(letter.getValue())).isEqualTo(garbage);
        assertThat(bytes(letter.getKey())).isEqualTo(key);
        assertThat(letter.getReason()).startsWith("undecodable ToolCall:").contains("wire format");
        assertThat(letter.getExceptionClass()).isEqualTo("org.apache.kafka.common.errors.SerializationException");
        assertThat(harness.worker.counters().deadLetters()).isEqualTo(1);
        await().atMost(ToolWorkerHarness.WAIT).until(() -> harness.committed().equals(Optional.of(2L)));
    }

    @Test
    void shouldRunAtMostMaxConcurrencyCallsAtOnce() {
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger running = new AtomicInteger();
        AtomicInteger peak = new AtomicInteger();
        start(ToolWorkerConfig.defaults().withMaxConcurrency(2), tool("slow", (args, ctx) -> {
            peak.accumulateAndGet(running.incrementAndGet(), Math::max);
            try {
                release.await();
                return "done";
            } finally {
                running.decrementAndGet();
            }
        }));

        for (int i = 0; i < 4; i++) {
            harness.send(call("slow", "{\"i\":" + i + "}"));
        }
        await().atMost(ToolWorkerHarness.WAIT).until(() -> running.get() == 2);
        assertThat(harness.worker.inFlight()).isEqualTo(2);
        release.countDown();

        await().atMost(ToolWorkerHarness.WAIT).until(() -> harness.results().size() == 4);
        assertThat(peak).hasValue(2);
        assertThat(harness.worker.counters().executions("slow")).isEqualTo(4);
    }

    @Test
    void shouldConfigureToolsFromToolOptions() {
        SimSearchTool search = new SimSearchTool();
        start(ToolWorkerConfig.defaults().withToolOptions(Map.of("sim_search.latency.ms", "0")), search);

        harness.send(call("sim_search", "{\"query\":\"kafka streams\",\"num_results\":2}"));

        assertThat(search.latency()).isEqualTo(Duration.ZERO);
        ToolResult result = harness.awaitResult(1);
        assertThat(result.getStatus()).isEqualTo(ToolStatus.OK);
        assertThat(result.getOutput())
                .startsWith("SIMULATED")
                .contains("1. ", "2. ")
                .doesNotContain("3. ");
    }

    @Test
    void shouldFailAtConstructionWhenToolRejectsItsOptions() {
        ToolRegistry registry = ToolRegistry.builder().add(new SimSearchTool()).build();
        ToolWorkerConfig config = ToolWorkerConfig.defaults().withToolOptions(Map.of("sim_search.latency.ms", "soon"));

        assertThatThrownBy(() -> new ToolWorkerHarness(testName, config, registry))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("tool 'sim_search' rejected its options")
                .hasMessageContaining("latency.ms must be a whole number of milliseconds, got 'soon'");
    }

    @Test
    void shouldDropResultsOfCallsInterruptedByClose() {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch interrupted = new CountDownLatch(1);
        start(hangsUntilInterrupted("block", started, interrupted));
        harness.send(call("block", "{}"));
        await().atMost(ToolWorkerHarness.WAIT).until(() -> started.getCount() == 0);

        harness.close();

        assertThat(awaitQuietly(interrupted)).isTrue();
        // The record was not committed, so its next owner runs it; an ERROR here would be a false answer.
        assertThat(harness.results()).isEmpty();
        assertThat(harness.committed().orElse(0L)).isZero();
        assertThat(harness.worker.isRunning()).isFalse();
    }

    private ToolResult resultFor(ToolCall call) {
        return harness.results().stream()
                .filter(r -> r.getCallHash().equals(call.getCallHash()))
                .findFirst()
                .orElseThrow();
    }

    private static byte[] bytes(java.nio.ByteBuffer buffer) {
        byte[] bytes = new byte[buffer.remaining()];
        buffer.duplicate().get(bytes);
        return bytes;
    }

    private static boolean awaitQuietly(CountDownLatch latch) {
        try {
            return latch.await(ToolWorkerHarness.WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
