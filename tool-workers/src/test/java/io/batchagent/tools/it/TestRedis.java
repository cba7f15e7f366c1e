package io.batchagent.tools.it;

import io.batchagent.testkit.TestNames;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import org.junit.jupiter.api.TestInfo;

/** The shared Redis of the machine (127.0.0.1:6379): tests use it only under keys of their own. */
public final class TestRedis {

    public static final String URL = "redis://127.0.0.1:6379";

    private TestRedis() {}

    /** A key prefix no other test (or run) uses. */
    public static String prefix(TestInfo info) {
        return "batchagent-test:" + TestNames.of(info).name() + ":";
    }

    /** A plain string connection, for assertions. */
    public static StatefulRedisConnection<String, String> connect(RedisClient client) {
        return client.connect();
    }
}
