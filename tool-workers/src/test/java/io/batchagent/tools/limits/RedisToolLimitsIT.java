package io.batchagent.tools.limits;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.tools.it.TestRedis;
import io.batchagent.tools.redis.RedisLink;
import io.batchagent.tools.redis.RedisSettings;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

/** The waiting logic over the machine's Redis, under a key prefix of the test's own. */
class RedisToolLimitsIT {

    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    private final AtomicInteger fallbacks = new AtomicInteger();
    private RedisLink link;
    private ToolLimiter limiter;

    @BeforeEach
    void connect(TestInfo info) {
        // Generous command timeouts: this test is about leases, not about a slow machine's Redis round trips.
        link = RedisLink.connect(RedisSettings.of(TestRedis.URL)
                .withKeyPrefix(TestRedis.prefix(info))
                .withCommandTimeout(Duration.ofSeconds(5)));
        await().atMost(Duration.ofSeconds(60)).until(() -> link.awaitConnected(Duration.ofSeconds(5)));
        limiter = ToolLimiter.shared(link, timer, error -> fallbacks.incrementAndGet());
    }

    @AfterEach
    void close() {
        limiter.close();
        link.close();
        timer.shutdownNow();
    }

    @Test
    void shouldKeepAHeldSlotPastItsLeaseTimeToLiveUntilReleased() {
        ToolLimitsTest.assertHeldSlotOutlivesItsLease(limiter);

        assertThat(fallbacks)
                .as("the slots were Redis's, not a local stand-in's")
                .hasValue(0);
    }
}
