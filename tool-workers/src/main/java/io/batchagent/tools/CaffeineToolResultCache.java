package io.batchagent.tools;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import com.github.benmanes.caffeine.cache.Ticker;
import io.batchagent.events.ToolResult;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * An in-process {@link ToolResultCache} on Caffeine: at most {@code maxEntries} results (least
 * useful evicted first), each expiring after its own TTL. Its operations complete before they
 * return. It is local to one worker process; a cache shared by all workers is a separate
 * implementation.
 */
public final class CaffeineToolResultCache implements ToolResultCache {

    private record Entry(ToolResult result, Duration ttl) {}

    private record Claim(String owner, Duration lease) {}

    private final Cache<String, Entry> cache;
    private final Cache<String, Claim> claims;

    /** @param maxEntries the most results kept, at least 1 */
    public CaffeineToolResultCache(long maxEntries) {
        this(maxEntries, Ticker.systemTicker());
    }

    /** With a given clock, so tests can pass TTLs without waiting. */
    CaffeineToolResultCache(long maxEntries, Ticker ticker) {
        if (maxEntries < 1) {
            throw new IllegalArgumentException("maxEntries must be at least 1, got " + maxEntries);
        }
        this.cache = Caffeine.newBuilder()
                .maximumSize(maxEntries)
                .expireAfter(Expiry.writing((String key, Entry entry) -> entry.ttl()))
                .ticker(ticker)
                .build();
        this.claims = Caffeine.newBuilder()
                .expireAfter(Expiry.writing((String key, Claim claim) -> claim.lease()))
                .ticker(ticker)
                .build();
    }

    @Override
    public CompletionStage<Optional<ToolResult>> get(String callHash) {
        Entry entry = cache.getIfPresent(callHash);
        return CompletableFuture.completedFuture(Optional.ofNullable(entry)
                .map(e -> ToolResults.copyOf(e.result()).build()));
    }

    @Override
    public CompletionStage<Void> put(String callHash, ToolResult result, Duration ttl) {
        Objects.requireNonNull(callHash, "callHash");
        if (ttl.isNegative() || ttl.isZero()) {
            throw new IllegalArgumentException("ttl must be positive, got " + ttl);
        }
        cache.put(callHash, new Entry(ToolResults.copyOf(result).build(), ttl));
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Boolean> claim(String callHash, String owner, Duration lease) {
        Objects.requireNonNull(owner, "owner");
        if (lease.isNegative() || lease.isZero()) {
            throw new IllegalArgumentException("lease must be positive, got " + lease);
        }
        Claim held = claims.asMap().putIfAbsent(callHash, new Claim(owner, lease));
        return CompletableFuture.completedFuture(held == null || held.owner().equals(owner));
    }

    @Override
    public CompletionStage<Void> release(String callHash, String owner) {
        claims.asMap().computeIfPresent(callHash, (key, claim) -> claim.owner().equals(owner) ? null : claim);
        return CompletableFuture.completedFuture(null);
    }

    /** Entries held now, approximately (expired ones may still count until cleaned up). */
    public long estimatedSize() {
        return cache.estimatedSize();
    }

    /** Runs pending evictions now; for tests. */
    void cleanUp() {
        cache.cleanUp();
        claims.cleanUp();
    }

    @Override
    public void close() {
        cache.invalidateAll();
        claims.invalidateAll();
    }
}
