package io.batchagent.tools;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolStatus;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class CaffeineToolResultCacheTest {

    private final AtomicLong nanos = new AtomicLong();
    private final CaffeineToolResultCache cache = new CaffeineToolResultCache(100, nanos::get);

    private static ToolResult result(String hash, String output) {
        return ToolResult.newBuilder()
                .setCallHash(hash)
                .setTool("t")
                .setStatus(ToolStatus.OK)
                .setOutput(output)
                .build();
    }

    private Optional<ToolResult> get(String hash) {
        return cache.get(hash).toCompletableFuture().join();
    }

    @Test
    void shouldReturnAStoredResultUntilItsTtlPasses() {
        cache.put("h1", result("h1", "one"), Duration.ofSeconds(10))
                .toCompletableFuture()
                .join();

        nanos.addAndGet(Duration.ofSeconds(9).toNanos());
        assertThat(get("h1")).map(ToolResult::getOutput).contains("one");

        nanos.addAndGet(Duration.ofSeconds(2).toNanos());
        assertThat(get("h1")).isEmpty();
    }

    @Test
    void shouldKeepEachEntrysOwnTtl() {
        cache.put("short", result("short", "s"), Duration.ofSeconds(1));
        cache.put("long", result("long", "l"), Duration.ofMinutes(1));

        nanos.addAndGet(Duration.ofSeconds(5).toNanos());

        assertThat(get("short")).isEmpty();
        assertThat(get("long")).isPresent();
    }

    @Test
    void shouldNotLetCallersMutateWhatIsCached() {
        ToolResult stored = result("h", "original");
        cache.put("h", stored, Duration.ofMinutes(1));

        stored.setOutput("changed after put");
        get("h").orElseThrow().setOutput("changed after get");

        assertThat(get("h")).map(ToolResult::getOutput).contains("original");
    }

    @Test
    void shouldStayWithinItsSizeBound() {
        CaffeineToolResultCache small = new CaffeineToolResultCache(10, nanos::get);
        for (int i = 0; i < 100; i++) {
            small.put("h" + i, result("h" + i, "x"), Duration.ofMinutes(1));
        }

        small.cleanUp();

        assertThat(small.estimatedSize()).isLessThanOrEqualTo(10);
    }

    @Test
    void shouldRefuseANonPositiveTtl() {
        assertThatThrownBy(() -> cache.put("h", result("h", "x"), Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class);
    }

    private boolean claim(String hash, String owner, Duration lease) {
        return cache.claim(hash, owner, lease).toCompletableFuture().join();
    }

    @Test
    void shouldGrantAClaimToOneOwnerUntilItIsReleasedOrItsLeaseRunsOut() {
        assertThat(claim("h1", "a", Duration.ofSeconds(10))).isTrue();
        assertThat(claim("h1", "b", Duration.ofSeconds(10))).isFalse();
        assertThat(claim("h1", "a", Duration.ofSeconds(10)))
                .as("its holder asks again")
                .isTrue();
        assertThat(claim("h2", "b", Duration.ofSeconds(10))).as("another call").isTrue();

        cache.release("h1", "b").toCompletableFuture().join();
        assertThat(claim("h1", "b", Duration.ofSeconds(10)))
                .as("only the holder releases")
                .isFalse();
        cache.release("h1", "a").toCompletableFuture().join();
        assertThat(claim("h1", "b", Duration.ofSeconds(10))).isTrue();

        nanos.addAndGet(Duration.ofSeconds(11).toNanos());
        assertThat(claim("h1", "c", Duration.ofSeconds(10)))
                .as("the lease of a holder that died ran out")
                .isTrue();
    }
}
