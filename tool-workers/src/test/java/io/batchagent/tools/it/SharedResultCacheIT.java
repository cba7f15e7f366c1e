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
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/** The result cache in Redis is shared by tool workers in different processes. */
@WithKafka
class SharedResultCacheIT {

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long TTL_MS = 4_000;

    @TempDir
    Path dir;

    @Test
    void shouldAnswerACallRunByOneWorkerProcessFromTheCacheInAnotherUntilItsTtlPasses(KafkaCluster kafka, TestInfo info)
            throws Exception {
        TestNames names = TestNames.of(info);
        Topics topics = Topics.create(names.topicPrefix(), Map.of());
        kafka.createTopics(topics, 4);
        String keyPrefix = TestRedis.prefix(info);
        ToolSpec spec = ToolSpec.newBuilder()
                .setName(RecordingTool.NAME)
                .setCacheable(true)
                .setCacheTtlMs(TTL_MS)
                .setTimeoutMs(10_000)
                .build();
        String arguments = "{\"q\":\"shared question\"}";
        ToolCall call = ToolCall.newBuilder()
                .setCallHash(CallHash.ofCall(spec, arguments))
                .setBatchId("b")
                .setTool(spec)
                .setArgumentsJson(arguments)
                .setDispatchedAtMs(System.currentTimeMillis())
                .build();

        // Worker B: another process, its own consumer group and Redis connection, built but not consuming yet.
        try (ToolWorkerProcess workerB = ToolWorkerProcess.start(
                        Map.of(
                                "bootstrap",
                                kafka.bootstrapServers(),
                                "prefix",
                                names.topicPrefix(),
                                "group",
                                names.applicationId() + "-b",
                                "redis",
                                TestRedis.URL,
                                "keyPrefix",
                                keyPrefix,
                                "worker",
                                "worker-b",
                                "events",
                                keyPrefix + "events",
                                "hold",
                                "true"),
                        dir.resolve("worker-b.log"));
                KafkaIO.Reader<ToolResult> results = new KafkaIO.Reader<>(kafka.clientConfig(), topics.toolResults());
                RedisClient redis = RedisClient.create(TestRedis.URL);
                StatefulRedisConnection<String, String> keys = redis.connect()) {

            // Given worker A, in this process, ran the call
            try (RecordingTool toolA =
                            new RecordingTool("worker-a", TestRedis.URL, keyPrefix + "events", Duration.ZERO);
                    ToolWorker workerA = new ToolWorker(
                            kafka.clientConfig(),
                            topics,
                            ToolWorkerConfig.defaults()
                                    .withGroupId(names.applicationId() + "-a")
                                    .withRedis(RedisSettings.of(TestRedis.URL).withKeyPrefix(keyPrefix)),
                            ToolRegistry.builder().add(toolA).build())) {
                workerA.start();
                KafkaIO.send(kafka.clientConfig(), topics.toolCalls(), Map.of(call.getCallHash(), call));
                ToolResult first = results.await(1, WAIT).get(0);
                assertThat(first.getExecuted()).isTrue();
                assertThat(first.getOutput()).startsWith("answered by worker-a run 1");
                String key = keyPrefix + "result:" + call.getCallHash();
                await().atMost(WAIT).until(() -> keys.sync().exists(key) == 1);
            }

            // When worker B reads the same call (its group starts at the beginning of tool-calls)
            workerB.go();
            List<ToolResult> two = results.await(2, WAIT);

            // Then it is a cache hit: A's answer, not run again
            ToolResult hit = two.get(1);
            assertThat(hit.getExecuted()).isFalse();
            assertThat(hit.getStatus()).isEqualTo(ToolStatus.OK);
            assertThat(hit.getOutput()).isEqualTo(two.get(0).getOutput()).startsWith("answered by worker-a run 1");
            assertThat(keys.sync().lrange(keyPrefix + "events", 0, -1))
                    .singleElement()
                    .asString()
                    .startsWith("worker-a ");

            // And once the TTL has passed, the same call runs again
            await().atMost(WAIT).until(() -> keys.sync().exists(keyPrefix + "result:" + call.getCallHash()) == 0);
            KafkaIO.send(kafka.clientConfig(), topics.toolCalls(), Map.of(call.getCallHash(), call));
            ToolResult again = results.await(3, WAIT).get(2);
            assertThat(again.getExecuted()).isTrue();
            assertThat(again.getOutput()).startsWith("answered by worker-b run 1");
            assertThat(keys.sync().lrange(keyPrefix + "events", 0, -1)).hasSize(2);
        }
    }

    @Test
    void shouldRunACallOnceWhenASecondWorkerReadsItWhileTheFirstIsStillRunningIt(KafkaCluster kafka, TestInfo info)
            throws Exception {
        TestNames names = TestNames.of(info);
        Topics topics = Topics.create(names.topicPrefix(), Map.of());
        kafka.createTopics(topics, 4);
        String keyPrefix = TestRedis.prefix(info);
        ToolSpec spec = ToolSpec.newBuilder()
                .setName(RecordingTool.NAME)
                .setCacheable(true)
                .setCacheTtlMs(60_000)
                .setTimeoutMs(30_000)
                .build();
        String gate = keyPrefix + "gate";
        String arguments = "{\"q\":\"slow shared question\",\"gate\":\"" + gate + "\"}";
        ToolCall call = ToolCall.newBuilder()
                .setCallHash(CallHash.ofCall(spec, arguments))
                .setBatchId("b")
                .setTool(spec)
                .setArgumentsJson(arguments)
                .setDispatchedAtMs(System.currentTimeMillis())
                .build();
        ToolWorkerConfig config = ToolWorkerConfig.defaults()
                .withRedis(RedisSettings.of(TestRedis.URL).withKeyPrefix(keyPrefix));

        try (KafkaIO.Reader<ToolResult> results = new KafkaIO.Reader<>(kafka.clientConfig(), topics.toolResults());
                RedisClient redis = RedisClient.create(TestRedis.URL);
                StatefulRedisConnection<String, String> keys = redis.connect();
                RecordingTool toolA =
                        new RecordingTool("worker-a", TestRedis.URL, keyPrefix + "events", Duration.ZERO);
                RecordingTool toolB =
                        new RecordingTool("worker-b", TestRedis.URL, keyPrefix + "events", Duration.ZERO);
                ToolWorker workerA = new ToolWorker(
                        kafka.clientConfig(),
                        topics,
                        config.withGroupId(names.applicationId() + "-a"),
                        ToolRegistry.builder().add(toolA).build());
                ToolWorker workerB = new ToolWorker(
                        kafka.clientConfig(),
                        topics,
                        config.withGroupId(names.applicationId() + "-b"),
                        ToolRegistry.builder().add(toolB).build())) {

            // Given worker A is running the call (it holds the call's claim)
            workerA.start();
            KafkaIO.send(kafka.clientConfig(), topics.toolCalls(), Map.of(call.getCallHash(), call));
            String claim = keyPrefix + "claim:" + call.getCallHash();
            await().atMost(WAIT).until(() -> keys.sync().exists(claim) == 1);

            // When worker B reads the same call record before A has finished (as a partition's new owner
            // does after a rebalance)
            workerB.start();
            await().atMost(WAIT).until(() -> workerB.counters().claimWaits() > 0);
            keys.sync().setex(gate, 600, "open");

            // Then B waits for A's result instead of running the call a second time
            List<ToolResult> two = results.await(2, WAIT);
            assertThat(two).extracting(ToolResult::getStatus).containsOnly(ToolStatus.OK);
            assertThat(two)
                    .extracting(ToolResult::getOutput)
                    .containsOnly(two.get(0).getOutput());
            assertThat(two)
                    .filteredOn(ToolResult::getExecuted)
                    .singleElement()
                    .extracting(ToolResult::getOutput)
                    .asString()
                    .startsWith("answered by worker-a run 1");
            assertThat(keys.sync().lrange(keyPrefix + "events", 0, -1))
                    .singleElement()
                    .asString()
                    .startsWith("worker-a ");
            assertThat(toolB.runs()).isZero();
            assertThat(workerB.counters().claimWaits()).isPositive();
            // And A released its claim once its result was in the cache
            await().atMost(WAIT).until(() -> keys.sync().exists(claim) == 0);
            assertThat(keys.sync().exists(keyPrefix + "result:" + call.getCallHash()))
                    .isEqualTo(1);
        }
    }
}
