package io.batchagent.tools.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.schemas.CallHash;
import io.batchagent.schemas.Topics;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import io.batchagent.tools.ToolRegistry;
import io.batchagent.tools.ToolWorker;
import io.batchagent.tools.ToolWorkerConfig;
import io.batchagent.tools.redis.RedisSettings;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tool's rate and concurrency limits hold for all tool workers together: here one worker in this
 * JVM and one in a process of its own, in one consumer group, each with its own Redis connection.
 */
@WithKafka
class SharedLimitsIT {

    private static final Duration WAIT = Duration.ofSeconds(90);

    @TempDir
    static Path dir;

    private static Topics topics;
    private static String keyPrefix;
    private static RecordingTool localTool;
    private static ToolWorker localWorker;
    private static ToolWorkerProcess otherProcess;
    private static RedisClient redis;
    private static StatefulRedisConnection<String, String> events;

    @BeforeAll
    static void twoWorkers(KafkaCluster kafka, TestInfo info) throws Exception {
        TestNames names = TestNames.of(info);
        topics = Topics.create(names.topicPrefix(), Map.of());
        kafka.createTopics(topics, 4);
        keyPrefix = TestRedis.prefix(info);
        String group = names.applicationId();
        otherProcess = ToolWorkerProcess.start(
                Map.of(
                        "bootstrap",
                        kafka.bootstrapServers(),
                        "prefix",
                        names.topicPrefix(),
                        "group",
                        group,
                        "redis",
                        TestRedis.URL,
                        "keyPrefix",
                        keyPrefix,
                        "worker",
                        "worker-b",
                        "events",
                        keyPrefix + "unused",
                        "workMs",
                        "0"),
                dir.resolve("worker-b.log"));
        localTool = new RecordingTool("worker-a", TestRedis.URL, keyPrefix + "unused", Duration.ZERO);
        localWorker = new ToolWorker(
                kafka.clientConfig(),
                topics,
                ToolWorkerConfig.defaults()
                        .withGroupId(group)
                        .withRedis(RedisSettings.of(TestRedis.URL).withKeyPrefix(keyPrefix)),
                ToolRegistry.builder().add(localTool).build());
        localWorker.start();
        KafkaIO.awaitGroupMembers(kafka.admin(), group, 2, WAIT);
        redis = RedisClient.create(TestRedis.URL);
        events = redis.connect();
    }

    @AfterAll
    static void stop() throws Exception {
        if (otherProcess != null) {
            otherProcess.close();
        }
        if (localWorker != null) {
            localWorker.close();
        }
        if (localTool != null) {
            localTool.close();
        }
        if (events != null) {
            events.close();
            redis.shutdown();
        }
    }

    @Test
    void shouldHoldARateLimitOfFivePerSecondAcrossBothWorkersWithinTwentyPercent(KafkaCluster kafka) {
        String log = keyPrefix + "rate-events";
        ToolSpec spec = ToolSpec.newBuilder()
                .setName(RecordingTool.NAME)
                .setRateLimitPerSecond(5)
                .setTimeoutMs(60_000)
                .build();

        List<ToolResult> results = run(kafka, spec, 50, log, "rate");

        assertThat(results).extracting(ToolResult::getStatus).containsOnly(ToolStatus.OK);
        List<Execution> executions = executions(log);
        assertThat(executions).hasSize(50);
        assertThat(executions).extracting(Execution::worker).contains("worker-a", "worker-b");
        List<Long> starts = executions.stream().map(Execution::start).sorted().toList();
        double seconds = (starts.get(49) - starts.get(0)) / 1000.0;
        double rate = 49 / seconds;
        // The limit bounds the rate from above; a loaded machine may run below it, so no lower bound.
        assertThat(rate).as("starts per second over 50 calls").isLessThanOrEqualTo(6.0);
        for (int i = 0; i < starts.size(); i++) {
            long from = starts.get(i);
            long inOneSecond =
                    starts.stream().filter(s -> s >= from && s < from + 1_000).count();
            assertThat(inOneSecond)
                    .as("starts within one second from %d ms", from - starts.get(0))
                    .isLessThanOrEqualTo(6);
        }
    }

    @Test
    void shouldNeverRunMoreThanTheConcurrencyCapAcrossBothWorkers(KafkaCluster kafka) {
        String log = keyPrefix + "concurrency-events";
        ToolSpec spec = ToolSpec.newBuilder()
                .setName(RecordingTool.NAME)
                .setMaxConcurrency(2)
                .setTimeoutMs(60_000)
                .build();

        List<ToolResult> results = run(kafka, spec, 16, log, "concurrency", 250);

        assertThat(results).extracting(ToolResult::getStatus).containsOnly(ToolStatus.OK);
        List<Execution> executions = executions(log);
        assertThat(executions).hasSize(16);
        assertThat(executions).extracting(Execution::worker).contains("worker-a", "worker-b");
        assertThat(peakOverlap(executions)).as("executions running at once").isEqualTo(2);
    }

    private List<ToolResult> run(KafkaCluster kafka, ToolSpec spec, int calls, String log, String tag) {
        return run(kafka, spec, calls, log, tag, 0);
    }

    /** Sends {@code calls} distinct calls at once and waits for their results. */
    private List<ToolResult> run(KafkaCluster kafka, ToolSpec spec, int calls, String log, String tag, long workMs) {
        List<Map.Entry<String, ToolCall>> records = new ArrayList<>();
        IntStream.range(0, calls).forEach(i -> {
            String arguments =
                    "{\"log\":\"" + log + "\",\"i\":" + i + ",\"workMs\":" + workMs + ",\"tag\":\"" + tag + "\"}";
            ToolCall call = ToolCall.newBuilder()
                    .setCallHash(CallHash.ofCall(spec, arguments))
                    .setBatchId(tag)
                    .setTool(spec)
                    .setArgumentsJson(arguments)
                    .setDispatchedAtMs(System.currentTimeMillis())
                    .build();
            records.add(Map.entry(call.getCallHash(), call));
        });
        Set<String> hashes = records.stream().map(Map.Entry::getKey).collect(Collectors.toSet());
        try (KafkaIO.Reader<ToolResult> results = new KafkaIO.Reader<>(kafka.clientConfig(), topics.toolResults())) {
            KafkaIO.sendAll(kafka.clientConfig(), topics.toolCalls(), records);
            await().atMost(WAIT)
                    .pollInterval(Duration.ofMillis(50))
                    .until(() -> results.values().stream()
                            .map(ToolResult::getCallHash)
                            .collect(Collectors.toSet())
                            .containsAll(hashes));
            return results.values().stream()
                    .filter(r -> hashes.contains(r.getCallHash()))
                    .toList();
        }
    }

    private record Execution(String worker, long start, long end) {}

    private static List<Execution> executions(String log) {
        return events.sync().lrange(log, 0, -1).stream()
                .map(line -> {
                    String[] parts = line.split(" ");
                    return new Execution(parts[0], Long.parseLong(parts[1]), Long.parseLong(parts[2]));
                })
                .toList();
    }

    private static int peakOverlap(List<Execution> executions) {
        int peak = 0;
        for (Execution e : executions) {
            // Intervals are half-open: one that ends at the instant another starts does not overlap it.
            int running = (int) executions.stream()
                    .filter(o -> o.start() <= e.start() && o.end() > e.start())
                    .count();
            peak = Math.max(peak, running);
        }
        return peak;
    }
}
