package io.batchagent.tools.it;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A tool for multi-worker tests: it works for a fixed time (standing in for a call to a shared
 * service) and records each execution, {@code "<worker> <startMs> <endMs>"}, in a Redis list, so a
 * test sees the executions of every worker process on one clock. The list is the call's {@code log}
 * argument, else the one given at construction; the time it works, {@code workMs}, else the one given. Answers with the worker's name and
 * its run number, so a test can tell who executed a result. With a {@code gate} argument (a Redis key)
 * it also works until that key exists, so a test decides when an execution ends.
 */
public final class RecordingTool implements Tool, AutoCloseable {

    public static final String NAME = "probe";

    private final String worker;
    private final String eventsKey;
    private final Duration work;
    private final RedisClient client;
    private final StatefulRedisConnection<String, String> connection;
    private final AtomicInteger runs = new AtomicInteger();

    public RecordingTool(String worker, String redisUrl, String eventsKey, Duration work) {
        this.worker = worker;
        this.eventsKey = eventsKey;
        this.work = work;
        this.client = RedisClient.create(redisUrl);
        this.connection = client.connect();
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String execute(JsonNode arguments, ToolContext context) throws InterruptedException {
        long start = System.currentTimeMillis();
        int run = runs.incrementAndGet();
        long workMs = arguments.path("workMs").asLong(work.toMillis());
        if (workMs > 0) {
            TimeUnit.MILLISECONDS.sleep(workMs); // the simulated service call
        }
        String gate = arguments.path("gate").asText("");
        long gateDeadline = System.currentTimeMillis() + 60_000;
        while (!gate.isEmpty() && connection.sync().exists(gate) == 0 && System.currentTimeMillis() < gateDeadline) {
            TimeUnit.MILLISECONDS.sleep(10); // works until the test opens the gate (sets the key)
        }
        long end = System.currentTimeMillis();
        String key = arguments.path("log").asText(eventsKey);
        connection.sync().rpush(key, worker + " " + start + " " + end);
        connection.sync().expire(key, 600);
        return "answered by " + worker + " run " + run + " for " + arguments;
    }

    public int runs() {
        return runs.get();
    }

    @Override
    public void close() {
        connection.close();
        client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    }
}
