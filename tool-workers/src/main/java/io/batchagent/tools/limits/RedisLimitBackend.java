package io.batchagent.tools.limits;

import io.batchagent.tools.redis.RedisLink;
import io.github.bucket4j.BucketConfiguration;
import io.github.bucket4j.distributed.AsyncBucketProxy;
import io.github.bucket4j.distributed.ExpirationAfterWriteStrategy;
import io.github.bucket4j.distributed.proxy.AsyncProxyManager;
import io.github.bucket4j.redis.lettuce.Bucket4jLettuce;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Limit state in Redis, shared by every worker on the same Redis and key prefix.
 *
 * <ul>
 *   <li>Rate: a Bucket4j token bucket per tool and rate ({@code <prefix>rate:<tool>:<rate>}), kept
 *       by Bucket4j's Lettuce proxy manager with compare-and-swap, so concurrent workers never both
 *       take the last token. Bucket4j computes refills with the client's clock: workers on different
 *       hosts need synchronised clocks (NTP), as usual for it.
 *   <li>Concurrency: a sorted set per tool ({@code <prefix>slots:<tool>}) of lease ids scored by
 *       their expiry on the Redis server's clock; a Lua script drops expired leases and adds one if
 *       fewer than {@code max} remain, atomically; a holder renews its lease while it runs. Bucket4j
 *       has no semaphore, hence the scripts.
 * </ul>
 *
 * <p>Every stage fails when Redis cannot be used; the caller falls back. Thread-safe.
 */
final class RedisLimitBackend implements LimitBackend {

    private static final String LEASE_SCRIPT = String.join(
            "\n",
            "local t = redis.call('TIME')",
            "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)",
            "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)",
            "if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then",
            "  local ttl = tonumber(ARGV[2])",
            "  redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])",
            "  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end",
            "  return 1",
            "end",
            "return 0");
    private static final String RELEASE_SCRIPT = "return redis.call('ZREM', KEYS[1], ARGV[1])";
    private static final String RENEW_SCRIPT = String.join(
            "\n",
            "local t = redis.call('TIME')",
            "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)",
            "local ttl = tonumber(ARGV[1])",
            "redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])",
            "if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end",
            "return 1");

    private final RedisLink link;
    private final Map<StatefulRedisConnection<byte[], byte[]>, AsyncProxyManager<byte[]>> managers =
            new ConcurrentHashMap<>();

    RedisLimitBackend(RedisLink link) {
        this.link = link;
    }

    @Override
    public boolean usable() {
        return link.available();
    }

    @Override
    public CompletionStage<Long> tryTakeToken(String tool, double ratePerSecond) {
        Optional<StatefulRedisConnection<byte[], byte[]>> connection = link.connection();
        if (connection.isEmpty()) {
            return unavailable();
        }
        AsyncProxyManager<byte[]> manager = managers.computeIfAbsent(connection.get(), this::proxyManager);
        BucketConfiguration configuration = BucketConfiguration.builder()
                .addLimit(LocalLimitBackend.bandwidth(ratePerSecond))
                .build();
        AsyncBucketProxy bucket = manager.builder()
                .build(
                        link.key("rate:", tool, ":", Double.toString(ratePerSecond)),
                        () -> CompletableFuture.completedFuture(configuration));
        return bucket.tryConsumeAndReturnRemaining(1).handle((probe, error) -> {
            if (error != null) {
                link.failed(error);
                throw new IllegalStateException("Redis rate limit failed: " + error, error);
            }
            return probe.isConsumed() ? 0L : Math.max(1L, probe.getNanosToWaitForRefill());
        });
    }

    @Override
    public CompletionStage<Optional<String>> tryLease(String tool, int max, Duration ttl) {
        Optional<StatefulRedisConnection<byte[], byte[]>> connection = link.connection();
        if (connection.isEmpty()) {
            return unavailable();
        }
        String id = UUID.randomUUID().toString();
        return connection
                .get()
                .async()
                .<Long>eval(
                        LEASE_SCRIPT,
                        ScriptOutputType.INTEGER,
                        new byte[][] {slotsKey(tool)},
                        bytes(Integer.toString(max)),
                        bytes(Long.toString(ttl.toMillis())),
                        bytes(id))
                .toCompletableFuture()
                .handle((granted, error) -> {
                    if (error != null) {
                        link.failed(error);
                        throw new IllegalStateException("Redis concurrency limit failed: " + error, error);
                    }
                    return granted != null && granted == 1L ? Optional.of(id) : Optional.<String>empty();
                });
    }

    @Override
    public CompletionStage<Void> release(String tool, String leaseId) {
        Optional<StatefulRedisConnection<byte[], byte[]>> connection = link.connection();
        if (connection.isEmpty()) {
            return unavailable(); // the lease expires by itself
        }
        return connection
                .get()
                .async()
                .<Long>eval(RELEASE_SCRIPT, ScriptOutputType.INTEGER, new byte[][] {slotsKey(tool)}, bytes(leaseId))
                .toCompletableFuture()
                .thenApply(removed -> null);
    }

    @Override
    public CompletionStage<Void> renew(String tool, String leaseId, Duration ttl) {
        Optional<StatefulRedisConnection<byte[], byte[]>> connection = link.connection();
        if (connection.isEmpty()) {
            return unavailable();
        }
        return connection
                .get()
                .async()
                .<Long>eval(
                        RENEW_SCRIPT,
                        ScriptOutputType.INTEGER,
                        new byte[][] {slotsKey(tool)},
                        bytes(Long.toString(ttl.toMillis())),
                        bytes(leaseId))
                .toCompletableFuture()
                .thenApply(renewed -> null);
    }

    private AsyncProxyManager<byte[]> proxyManager(StatefulRedisConnection<byte[], byte[]> connection) {
        return Bucket4jLettuce.casBasedBuilder(connection)
                .expirationAfterWrite(
                        ExpirationAfterWriteStrategy.basedOnTimeForRefillingBucketUpToMax(Duration.ofSeconds(10)))
                .requestTimeout(link.settings().commandTimeout())
                .build()
                .asAsync();
    }

    private byte[] slotsKey(String tool) {
        return link.key("slots:", tool);
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static <T> CompletionStage<T> unavailable() {
        return CompletableFuture.failedFuture(new IllegalStateException("Redis is unavailable"));
    }
}
