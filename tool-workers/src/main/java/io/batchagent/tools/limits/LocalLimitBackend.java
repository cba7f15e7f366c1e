package io.batchagent.tools.limits;

import io.github.bucket4j.Bandwidth;
import io.github.bucket4j.Bucket;
import io.github.bucket4j.ConsumptionProbe;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;

/** Limit state in this process: Bucket4j local buckets and leased slots with expiry. Thread-safe. */
final class LocalLimitBackend implements LimitBackend {

    private final Map<String, Bucket> buckets = new ConcurrentHashMap<>();
    private final Map<String, Map<String, Long>> leases = new HashMap<>();

    @Override
    public boolean usable() {
        return true;
    }

    @Override
    public CompletionStage<Long> tryTakeToken(String tool, double ratePerSecond) {
        Bucket bucket = buckets.computeIfAbsent(
                tool + '\u0000' + ratePerSecond,
                key -> Bucket.builder().addLimit(bandwidth(ratePerSecond)).build());
        ConsumptionProbe probe = bucket.tryConsumeAndReturnRemaining(1);
        return CompletableFuture.completedFuture(
                probe.isConsumed() ? 0L : Math.max(1L, probe.getNanosToWaitForRefill()));
    }

    @Override
    public CompletionStage<Optional<String>> tryLease(String tool, int max, Duration ttl) {
        long now = System.nanoTime();
        synchronized (leases) {
            Map<String, Long> held = leases.computeIfAbsent(tool, t -> new HashMap<>());
            held.values().removeIf(expiry -> now - expiry >= 0);
            if (held.size() >= max) {
                return CompletableFuture.completedFuture(Optional.empty());
            }
            String id = UUID.randomUUID().toString();
            held.put(id, now + ttl.toNanos());
            return CompletableFuture.completedFuture(Optional.of(id));
        }
    }

    @Override
    public CompletionStage<Void> release(String tool, String leaseId) {
        synchronized (leases) {
            Map<String, Long> held = leases.get(tool);
            if (held != null) {
                held.remove(leaseId);
            }
        }
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Void> renew(String tool, String leaseId, Duration ttl) {
        synchronized (leases) {
            leases.computeIfAbsent(tool, t -> new HashMap<>()).put(leaseId, System.nanoTime() + ttl.toNanos());
        }
        return CompletableFuture.completedFuture(null);
    }

    /** One token, refilled every {@code 1 / ratePerSecond}: starts are spaced evenly, with no burst. */
    static Bandwidth bandwidth(double ratePerSecond) {
        long periodNanos = Math.max(1L, Math.round(1_000_000_000d / ratePerSecond));
        return Bandwidth.builder()
                .capacity(1)
                .refillGreedy(1, Duration.ofNanos(periodNanos))
                .build();
    }
}
