package io.batchagent.tools.it;

import static io.batchagent.tools.TestTools.tool;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolRequest;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import io.batchagent.tools.ToolRegistry;
import io.batchagent.tools.ToolWorkerConfig;
import io.batchagent.tools.builtin.EchoTool;
import io.batchagent.topology.ToolCallCoalescer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Deadlines and hung tools on a real broker, through the coalescer (queue allowance 5 s, expiry
 * grace 60 s) and one tool worker with 2 calls in processing and 3 tool threads: calls that wait
 * past their deadline behind a backlog are answered without running, with a reason that says so;
 * a tool that ignores interruption neither exceeds its concurrency limit nor makes the worker add
 * threads, while its timed-out executions linger.
 */
@WithKafka
class ToolDeadlinesIT {

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long QUEUE_ALLOWANCE_MS = 5_000;

    @TempDir
    static Path stateDir;

    /** {@code slow_lookup}: a call with a "gate" argument waits for the gate; any other answers at once. */
    private static final CountDownLatch gate = new CountDownLatch(1);

    private static final CountDownLatch gatesEntered = new CountDownLatch(2);
    private static final List<String> lookupsRun = new CopyOnWriteArrayList<>();
    private static final Stubborn stubborn = new Stubborn("stubborn");
    private static final Stubborn stuck = new Stubborn("stuck");

    private static CoalescerPipeline pipeline;
    private static KafkaIO.Reader<ToolCall> dispatched;

    @BeforeAll
    static void start(KafkaCluster kafka, TestInfo info) {
        ToolRegistry registry = ToolRegistry.builder()
                .add(tool("slow_lookup", (arguments, context) -> {
                    lookupsRun.add(arguments.toString());
                    if (arguments.has("gate")) {
                        gatesEntered.countDown();
                        gate.await();
                    }
                    return "looked up " + arguments;
                }))
                .add(stubborn)
                .add(stuck)
                .add(new EchoTool())
                .build();
        pipeline = new CoalescerPipeline(
                kafka,
                TestNames.of(info),
                stateDir,
                ToolWorkerConfig.defaults().withMaxConcurrency(2).withMaxToolThreads(3),
                registry,
                topics -> ToolCallCoalescer.build(
                        topics,
                        Duration.ofMillis(QUEUE_ALLOWANCE_MS),
                        Duration.ofSeconds(60),
                        Duration.ofMillis(200),
                        ToolCallCoalescer.DEFAULT_BATCH_CHECK));
        dispatched = new KafkaIO.Reader<>(kafka.clientConfig(), pipeline.topics.toolCalls());
        // The tool worker has joined its group once it answers; a generous timeout covers the join.
        ToolResponse warmUp = only(request(
                "warm-up",
                ToolSpec.newBuilder().setName("echo").setTimeoutMs(120_000).build(),
                "{\"text\":\"ready\"}"));
        assertThat(warmUp.getResult().getStatus()).isEqualTo(ToolStatus.OK);
    }

    @AfterAll
    static void stop() {
        gate.countDown();
        stubborn.release();
        stuck.release();
        if (dispatched != null) {
            dispatched.close();
        }
        if (pipeline != null) {
            pipeline.close();
        }
    }

    @Test
    void shouldAnswerCallsWhoseDeadlinePassedInABacklogWithoutRunningThemAndSaySo() {
        long expiredBefore = pipeline.worker.counters().expiredInQueue();
        // Given both of the worker's slots taken by calls that wait on a gate
        ToolSpec gated = ToolSpec.newBuilder()
                .setName("slow_lookup")
                .setTimeoutMs(60_000)
                .build();
        List<ToolRequest> gates =
                List.of(request("gate-1", gated, "{\"gate\":1}"), request("gate-2", gated, "{\"gate\":2}"));
        pipeline.send(gates);
        await().atMost(WAIT).until(() -> gatesEntered.getCount() == 0);

        // When five calls with a 1 s timeout queue behind them until their deadlines have passed
        ToolSpec quick =
                ToolSpec.newBuilder().setName("slow_lookup").setTimeoutMs(1_000).build();
        List<ToolRequest> queued = IntStream.range(0, 5)
                .mapToObj(i -> request("queued-" + i, quick, "{\"n\":" + i + "}"))
                .toList();
        pipeline.send(queued);
        List<ToolCall> calls = awaitDispatched(queued);
        assertThat(calls)
                .allSatisfy(call -> assertThat(call.getDeadlineMs())
                        .isEqualTo(call.getDispatchedAtMs() + QUEUE_ALLOWANCE_MS + 1_000));
        long lastDeadline =
                calls.stream().mapToLong(ToolCall::getDeadlineMs).max().orElseThrow();
        await().atMost(WAIT).until(() -> System.currentTimeMillis() > lastDeadline);
        gate.countDown();

        // Then the gated calls are answered, and the queued ones get a TIMEOUT that says why, without running
        Map<String, ToolResponse> responses = pipeline.awaitResponses(jobIds(gates, queued), WAIT);
        assertThat(gates)
                .allSatisfy(
                        r -> assertThat(responses.get(r.getJobId()).getResult().getStatus())
                                .isEqualTo(ToolStatus.OK));
        assertThat(queued)
                .extracting(r -> responses.get(r.getJobId()).getResult())
                .allSatisfy(result -> {
                    assertThat(result.getStatus()).isEqualTo(ToolStatus.TIMEOUT);
                    assertThat(result.getError())
                            .startsWith("tool 'slow_lookup' expired in queue after ")
                            .contains("was not run")
                            .doesNotContain("is a tool worker running?");
                    assertThat(result.getExecuted()).isFalse();
                });
        assertThat(lookupsRun).containsExactlyInAnyOrder("{\"gate\":1}", "{\"gate\":2}");
        assertThat(pipeline.worker.counters().expiredInQueue() - expiredBefore).isEqualTo(5);
    }

    @Test
    void shouldNeverExceedAToolsConcurrencyLimitWhileTimedOutExecutionsLinger() {
        ToolSpec limited = ToolSpec.newBuilder()
                .setName("stubborn")
                .setTimeoutMs(300)
                .setMaxConcurrency(1)
                .build();
        try {
            // Given an execution that outlives its timeout, because its tool ignores interruption
            ToolResponse first = only(request("stubborn-0", limited, "{\"n\":0}"));
            assertThat(first.getResult().getStatus()).isEqualTo(ToolStatus.TIMEOUT);
            assertThat(first.getResult().getError()).isEqualTo("tool 'stubborn' timed out after 300 ms");
            await().atMost(WAIT).until(() -> pipeline.worker.lingeringExecutions() == 1);

            // When more calls come while it lingers
            List<ToolRequest> more = IntStream.rangeClosed(1, 3)
                    .mapToObj(i -> request("stubborn-" + i, limited, "{\"n\":" + i + "}"))
                    .toList();
            pipeline.send(more);
            Map<String, ToolResponse> refused = pipeline.awaitResponses(jobIds(more), WAIT);

            // Then none of them ran: the lingering execution still holds the tool's only slot
            assertThat(refused.values()).extracting(ToolResponse::getResult).allSatisfy(result -> {
                assertThat(result.getStatus()).isEqualTo(ToolStatus.TIMEOUT);
                assertThat(result.getError()).contains("could not start before its deadline: its concurrency limit 1");
                assertThat(result.getExecuted()).isFalse();
            });
            assertThat(stubborn.runs()).isEqualTo(1);

            // And once it really ends, the slot is free again
            stubborn.release();
            await().atMost(WAIT).until(() -> pipeline.worker.lingeringExecutions() == 0);
            ToolResponse after = only(request("stubborn-4", limited, "{\"n\":4}"));
            assertThat(after.getResult().getStatus()).isEqualTo(ToolStatus.OK);
            assertThat(stubborn.runs()).isEqualTo(2);
            assertThat(stubborn.peak())
                    .as("executions of the tool running at once, counted inside it")
                    .isEqualTo(1);
        } finally {
            stubborn.release();
        }
    }

    @Test
    void shouldStopStartingAHungToolInsteadOfAddingThreadsAndKeepRunningOtherTools() {
        ToolSpec hung = ToolSpec.newBuilder().setName("stuck").setTimeoutMs(300).build();
        try {
            // Given the tool's share of the threads (maxConcurrency, 2) held by executions that outlive their timeout
            List<ToolRequest> first =
                    List.of(request("stuck-0", hung, "{\"n\":0}"), request("stuck-1", hung, "{\"n\":1}"));
            pipeline.send(first);
            assertThat(pipeline.awaitResponses(jobIds(first), WAIT).values())
                    .allSatisfy(r -> assertThat(r.getResult().getStatus()).isEqualTo(ToolStatus.TIMEOUT));
            await().atMost(WAIT).until(() -> pipeline.worker.lingeringExecutions() == 2);

            // When more calls to it come
            List<ToolRequest> more = IntStream.rangeClosed(2, 4)
                    .mapToObj(i -> request("stuck-" + i, hung, "{\"n\":" + i + "}"))
                    .toList();
            pipeline.send(more);
            Map<String, ToolResponse> refused = pipeline.awaitResponses(jobIds(more), WAIT);

            // Then the worker did not start it again, nor add a thread for it
            assertThat(refused.values()).extracting(ToolResponse::getResult).allSatisfy(result -> {
                assertThat(result.getStatus()).isEqualTo(ToolStatus.TIMEOUT);
                assertThat(result.getError())
                        .startsWith(
                                "tool 'stuck' could not start before its deadline: no tool thread was free "
                                        + "on this worker (2 of the 2 it may hold are busy, 2 of them still running past their timeout");
                assertThat(result.getExecuted()).isFalse();
            });
            assertThat(stuck.runs()).isEqualTo(2);
            assertThat(stuck.peak()).isEqualTo(2);
            assertThat(pipeline.worker.peakToolThreads()).isLessThanOrEqualTo(3);

            // And other tools still run on the rest
            ToolResponse echo = only(request(
                    "echo-while-stuck", ToolSpec.newBuilder().setName("echo").build(), "{\"text\":\"served\"}"));
            assertThat(echo.getResult().getOutput()).isEqualTo("served");
            assertThat(pipeline.worker.toolThreads()).isLessThanOrEqualTo(3);
        } finally {
            stuck.release();
            await().atMost(WAIT).until(() -> pipeline.worker.lingeringExecutions() == 0);
        }
    }

    private static ToolRequest request(String jobId, ToolSpec spec, String argumentsJson) {
        return CoalescerPipeline.request(jobId, spec, argumentsJson);
    }

    private static ToolResponse only(ToolRequest request) {
        pipeline.send(List.of(request));
        return pipeline.awaitResponses(List.of(request.getJobId()), WAIT).get(request.getJobId());
    }

    private static List<String> jobIds(List<ToolRequest> requests) {
        return requests.stream().map(ToolRequest::getJobId).toList();
    }

    private static List<String> jobIds(List<ToolRequest> some, List<ToolRequest> more) {
        return Stream.concat(some.stream(), more.stream())
                .map(ToolRequest::getJobId)
                .toList();
    }

    /** The ToolCalls the coalescer dispatched for {@code requests}, once all are on the topic. */
    private static List<ToolCall> awaitDispatched(List<ToolRequest> requests) {
        Set<String> hashes = requests.stream().map(ToolRequest::getCallHash).collect(Collectors.toSet());
        List<ToolCall> found = new ArrayList<>();
        await().atMost(WAIT).until(() -> {
            found.clear();
            dispatched.values().stream()
                    .filter(c -> hashes.contains(c.getCallHash()))
                    .forEach(found::add);
            return found.size() == hashes.size();
        });
        return found;
    }

    /**
     * A tool that ignores interruption, as code stuck in a non-interruptible call would: each run
     * returns only once the tool is released. It counts its runs and how many run at once.
     */
    private static final class Stubborn implements Tool {
        private final String name;
        private final CountDownLatch released = new CountDownLatch(1);
        private final AtomicInteger runs = new AtomicInteger();
        private final AtomicInteger running = new AtomicInteger();
        private final AtomicInteger peak = new AtomicInteger();

        Stubborn(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public String execute(JsonNode arguments, ToolContext context) {
            runs.incrementAndGet();
            peak.accumulateAndGet(running.incrementAndGet(), Math::max);
            try {
                while (true) {
                    try {
                        released.await();
                        return "released";
                    } catch (InterruptedException ignored) {
                        // swallowed, as the code this stands for would
                    }
                }
            } finally {
                running.decrementAndGet();
            }
        }

        void release() {
            released.countDown();
        }

        int runs() {
            return runs.get();
        }

        int peak() {
            return peak.get();
        }
    }
}
