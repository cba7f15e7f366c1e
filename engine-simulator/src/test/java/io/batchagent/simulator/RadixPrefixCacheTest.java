package io.batchagent.simulator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class RadixPrefixCacheTest {

    private static int[] range(int from, int toExclusive) {
        int[] out = new int[toExclusive - from];
        for (int i = 0; i < out.length; i++) {
            out[i] = from + i;
        }
        return out;
    }

    private static int[] concat(int[] a, int... b) {
        int[] out = new int[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void shouldReuseACachedPrefix() {
        RadixPrefixCache cache = new RadixPrefixCache(1_000);
        int[] shared = range(0, 100);
        cache.insert(concat(shared, 1000, 1001));

        assertThat(cache.match(concat(shared, 2000, 2001, 2002))).isEqualTo(100);
        assertThat(cache.match(concat(shared, 1000, 1001))).isEqualTo(102);
        assertThat(cache.insert(concat(shared, 2000, 2001, 2002))).isEqualTo(3);
        assertThat(cache.size()).isEqualTo(105);
        assertThat(cache.counters().hitTokens()).isEqualTo(202);
    }

    @Test
    void shouldMatchPartiallyInsideAnEdgeAndSplitIt() {
        RadixPrefixCache cache = new RadixPrefixCache(100);
        cache.insert(new int[] {1, 2, 3, 4, 5});

        assertThat(cache.match(new int[] {1, 2, 3, 9})).isEqualTo(3);
        assertThat(cache.match(new int[] {7})).isZero();
        assertThat(cache.insert(new int[] {1, 2, 3, 9, 9})).isEqualTo(2);
        assertThat(cache.size()).isEqualTo(7);
        assertThat(cache.match(new int[] {1, 2, 3, 4, 5, 6})).isEqualTo(5);
        assertThat(cache.match(new int[] {1, 2, 3, 9, 9})).isEqualTo(5);
    }

    @Test
    void shouldEvictLeastRecentlyUsedLeafFirst() {
        RadixPrefixCache cache = new RadixPrefixCache(10);
        int[] a = {1, 2, 3};
        int[] b = {4, 5, 6};
        int[] c = {7, 8, 9};
        cache.insert(a);
        cache.insert(b);
        cache.insert(c);
        cache.match(a); // a is now more recent than b and c

        assertThat(cache.insert(new int[] {10, 11, 12})).isEqualTo(3);

        assertThat(cache.match(b)).as("least recently used").isZero();
        assertThat(cache.match(a)).isEqualTo(3);
        assertThat(cache.match(c)).isEqualTo(3);
        assertThat(cache.size()).isEqualTo(9);
        assertThat(cache.counters().evictedTokens()).isEqualTo(3);
    }

    @Test
    void shouldEvictChildBeforeItsMoreRecentlyUsedParentPath() {
        RadixPrefixCache cache = new RadixPrefixCache(8);
        cache.insert(new int[] {1, 2, 3, 4});
        cache.insert(new int[] {1, 2, 5, 6});

        assertThat(cache.evict(1)).isEqualTo(2); // one whole leaf: {3, 4}, the older branch

        assertThat(cache.match(new int[] {1, 2, 3, 4})).isEqualTo(2);
        assertThat(cache.match(new int[] {1, 2, 5, 6})).isEqualTo(4);
    }

    @Test
    void shouldNeverEvictTokensPinnedByARunningRequest() {
        RadixPrefixCache cache = new RadixPrefixCache(6);
        int[] running = {1, 2, 3, 4};
        cache.insert(running);
        RadixPrefixCache.Lease lease = cache.lock(running, running.length);

        assertThat(cache.flush()).isZero();
        assertThat(cache.insert(new int[] {9, 9, 9, 9}))
                .as("only what fits beside the pinned tokens")
                .isEqualTo(2);
        assertThat(cache.match(running)).isEqualTo(4);
        assertThat(cache.lockedTokens()).isEqualTo(4);
        assertThat(cache.tryReserve(1)).as("{9, 9} is evictable").isTrue();
        assertThat(cache.match(new int[] {9, 9})).isZero();

        cache.release(1);
        cache.unlock(lease);
        assertThat(cache.lockedTokens()).isZero();
        assertThat(cache.flush()).isEqualTo(4);
        assertThat(cache.size()).isZero();
    }

    @Test
    void shouldKeepAPinWhenALockedEdgeIsSplit() {
        RadixPrefixCache cache = new RadixPrefixCache(100);
        cache.insert(new int[] {1, 2, 3, 4});
        RadixPrefixCache.Lease lease = cache.lock(new int[] {1, 2, 3, 4}, 4);
        cache.insert(new int[] {1, 2, 7}); // splits the pinned edge after {1, 2}

        cache.unlock(lease);

        assertThat(cache.lockedTokens()).isZero();
        assertThat(cache.flush()).isEqualTo(5);
        assertThatThrownBy(() -> cache.unlock(lease)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void shouldRefuseAReservationThatCannotFit() {
        RadixPrefixCache cache = new RadixPrefixCache(10);
        RadixPrefixCache.Lease lease = cache.insertAndLock(range(0, 6));

        assertThat(cache.tryReserve(5)).isFalse();
        assertThat(cache.reserved()).isZero();
        assertThat(cache.tryReserve(4)).isTrue();
        assertThat(cache.available()).isZero();
        cache.unlock(lease);
    }

    @Test
    void shouldRespectCapacityUnderRandomWorkload() {
        RadixPrefixCache cache = new RadixPrefixCache(500);
        Random random = new Random(42);
        List<RadixPrefixCache.Lease> leases = new ArrayList<>();
        for (int round = 0; round < 2_000; round++) {
            int[] tokens = new int[1 + random.nextInt(120)];
            int branch = random.nextInt(8);
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = i < 40 ? branch : random.nextInt(4);
            }
            switch (random.nextInt(4)) {
                case 0 -> leases.add(cache.lock(tokens, tokens.length));
                case 1 -> {
                    if (!leases.isEmpty()) {
                        cache.unlock(leases.remove(random.nextInt(leases.size())));
                    }
                }
                default -> cache.insert(tokens);
            }
            assertThat(cache.size() + cache.reserved()).isLessThanOrEqualTo(cache.capacity());
            assertThat(cache.lockedTokens()).isLessThanOrEqualTo(cache.size());
        }
        leases.forEach(cache::unlock);
        assertThat(cache.lockedTokens()).isZero();
        cache.flush();
        assertThat(cache.size()).isZero();
    }
}
