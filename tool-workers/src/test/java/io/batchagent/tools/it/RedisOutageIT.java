package io.batchagent.tools.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import io.batchagent.events.ToolSpec;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import io.batchagent.tools.ToolRegistry;
import io.batchagent.tools.ToolWorkerConfig;
import io.batchagent.tools.builtin.SimSearchTool;
import io.batchagent.tools.redis.RedisSettings;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/** A Redis that goes away in the middle of a batch costs the shared cache and limits, never a job. */
@WithKafka
class RedisOutageIT {

    private static final Duration WAIT = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    @Test
    void shouldFinishEveryJobWhenRedisIsKilledInTheMiddleOfTheBatch(KafkaCluster kafka, TestInfo info)
            throws Exception {
        ToolSpec search = ToolSpec.newBuilder()
                .setName(SimSearchTool.NAME)
                .setDescription("SIMULATED search")
                .setParametersJson(
                        "{\"properties\":{\"query\":{\"type\":\"string\"}},\"required\":[\"query\"],\"type\":\"object\"}")
                .setCacheable(true)
                .setCacheTtlMs(60_000)
                .setRateLimitPerSecond(100)
                .setMaxConcurrency(4)
                .setTimeoutMs(30_000)
                .build();
        try (RedisServerProcess ownRedis = RedisServerProcess.start(dir);
                RedisClient client = RedisClient.create(ownRedis.url());
                StatefulRedisConnection<String, String> keys = client.connect();
                AgentPipeline pipeline = new AgentPipeline(
                        kafka,
                        TestNames.of(info),
                        dir.resolve("state"),
                        ToolWorkerConfig.defaults()
                                .withRedis(RedisSettings.of(ownRedis.url())
                                        .withKeyPrefix("outage:")
                                        .withRetryInterval(Duration.ofMillis(200)))
                                .withToolOptions(Map.of("sim_search.latency.ms", "250")),
                        ToolRegistry.builder().add(new SimSearchTool()).build())) {
            List<String> calls = IntStream.range(0, 40)
                    .mapToObj(i -> "sim_search {\"query\":\"topic " + i + "\"}")
                    .toList();

            // Given a batch whose results are being shared through Redis
            List<String> jobs = pipeline.submit("outage", List.of(search), calls);
            await().atMost(WAIT).until(() -> keys.sync().keys("outage:result:*").size() >= 2);
            long executedBefore = pipeline.toolWorker.counters().executions(SimSearchTool.NAME);

            // When Redis dies
            ownRedis.stop();

            // Then every job still finishes, and the worker says it went without Redis
            Map<String, AgentResult> results = pipeline.awaitResults(jobs, WAIT);
            assertThat(results.values()).extracting(AgentResult::getStatus).containsOnly(JobStatus.SUCCEEDED);
            assertThat(executedBefore).isLessThan(40);
            assertThat(pipeline.toolWorker.counters().executions(SimSearchTool.NAME))
                    .isEqualTo(40);
            // A call whose lookup and claim ran before Redis died counts only its cache write, and a failed write
            // is counted once its background retries are spent (1 + 2 + 4 s), so this may come after the results.
            await().atMost(WAIT)
                    .untilAsserted(() -> assertThat(pipeline.toolWorker
                                    .metrics()
                                    .snapshot()
                                    .get(SimSearchTool.NAME)
                                    .cacheBypassed())
                            .as("cache lookups and writes made without Redis")
                            .isPositive());
            // Limit checks fall back too, but only when a call still had to acquire its limits after
            // Redis died; under load every acquisition can happen before, so that count is not asserted.
            assertThat(pipeline.toolWorker.metrics().scrape())
                    .contains("batchagent_tool_cache_bypassed_total{tool=\"sim_search\"}");
        }
    }
}
