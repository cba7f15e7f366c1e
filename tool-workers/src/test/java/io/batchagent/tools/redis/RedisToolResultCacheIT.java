package io.batchagent.tools.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolStatus;
import io.batchagent.tools.it.TestRedis;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** The Redis result cache against the machine's Redis, under a key prefix of the test's own. */
class RedisToolResultCacheIT {

    private RedisLink link;
    private RedisToolResultCache cache;

    @BeforeEach
    void connect(TestInfo info) {
        link = RedisLink.connect(RedisSettings.of(TestRedis.URL).withKeyPrefix(TestRedis.prefix(info)));
        assertThat(link.awaitConnected(Duration.ofSeconds(10))).isTrue();
        cache = new RedisToolResultCache(link);
    }

    @AfterEach
    void close() {
        link.close();
    }

    private static ToolResult result(String hash, String output) {
        return ToolResult.newBuilder()
                .setCallHash(hash)
                .setTool("t")
                .setStatus(ToolStatus.OK)
                .setOutput(output)
                .setStartedAtMs(1)
                .setFinishedAtMs(2)
                .setBatchSize(3)
                .build();
    }

    private Optional<ToolResult> get(String hash) {
        return cache.get(hash).toCompletableFuture().join();
    }

    @Test
    void shouldReturnAStoredResultUntilItsTtlPasses() {
        cache.put("h1", result("h1", "one ✓"), Duration.ofMillis(800))
                .toCompletableFuture()
                .join();

        assertThat(get("h1")).hasValueSatisfying(r -> {
            assertThat(r.getOutput()).isEqualTo("one ✓");
            assertThat(r.getBatchSize()).isEqualTo(3);
        });
        assertThat(get("missing")).isEmpty();
        await().atMost(Duration.ofSeconds(5)).until(() -> get("h1").isEmpty());
    }

    @Test
    void shouldFailAtOnceWhenRedisCannotBeReachedAndNotBlockTheCaller() throws Exception {
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        try (RedisLink nowhere = RedisLink.connect(RedisSettings.of("redis://127.0.0.1:" + closedPort))) {
            RedisToolResultCache unreachable = new RedisToolResultCache(nowhere);

            // "At once": the stages come back already failed, so no caller ever waits on an unreachable Redis.
            var get = unreachable.get("h").toCompletableFuture();
            var put = unreachable
                    .put("h", result("h", "x"), Duration.ofSeconds(1))
                    .toCompletableFuture();
            assertThat(get).isCompletedExceptionally();
            assertThat(put).isCompletedExceptionally();
            assertThatThrownBy(get::join)
                    .isInstanceOf(CompletionException.class)
                    .hasCauseInstanceOf(RedisToolResultCache.RedisUnavailableException.class);
            assertThatThrownBy(put::join).hasCauseInstanceOf(RedisToolResultCache.RedisUnavailableException.class);
        }
    }

    @Test
    void shouldKeepThePasswordOfTheUrlOutOfEveryDescription() {
        RedisSettings settings = RedisSettings.of("redis://:hunter2@cache.internal:6380/2");

        assertThat(settings.toString()).doesNotContain("hunter2").contains("redis://***@cache.internal:6380/2");
        assertThatThrownBy(() -> RedisSettings.of("http://cache:6379"))
                .hasMessageContaining("must start with redis:// or rediss://");
    }

    private boolean claim(String hash, String owner, Duration lease) {
        return cache.claim(hash, owner, lease).toCompletableFuture().join();
    }

    @Test
    void shouldGrantAClaimToOneOwnerUntilItIsReleasedOrItsLeaseRunsOut() {
        assertThat(claim("c1", "a", Duration.ofSeconds(30))).isTrue();
        assertThat(claim("c1", "b", Duration.ofSeconds(30))).isFalse();
        assertThat(claim("c1", "a", Duration.ofSeconds(30)))
                .as("its holder asks again")
                .isTrue();
        assertThat(claim("c2", "b", Duration.ofSeconds(30))).as("another call").isTrue();

        cache.release("c1", "b").toCompletableFuture().join();
        assertThat(claim("c1", "b", Duration.ofSeconds(30)))
                .as("only the holder releases")
                .isFalse();
        cache.release("c1", "a").toCompletableFuture().join();
        assertThat(claim("c1", "b", Duration.ofMillis(300))).isTrue();

        await().atMost(Duration.ofSeconds(10)).until(() -> claim("c1", "c", Duration.ofSeconds(30)));
    }
}
