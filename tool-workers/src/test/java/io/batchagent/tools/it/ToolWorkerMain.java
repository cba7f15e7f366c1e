package io.batchagent.tools.it;

import io.batchagent.schemas.Topics;
import io.batchagent.tools.ToolRegistry;
import io.batchagent.tools.ToolWorker;
import io.batchagent.tools.ToolWorkerConfig;
import io.batchagent.tools.redis.RedisSettings;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * A tool worker in a process of its own, for tests that need a second process: started by
 * {@link ToolWorkerProcess}, it runs a {@link ToolWorker} with a {@link RecordingTool}, prints
 * {@code CONSTRUCTED} once built and {@code READY} once consuming, and stops when its standard input
 * closes. With {@code hold=true} it waits for a {@code START} line before it starts consuming.
 *
 * <p>Arguments: {@code key=value} pairs: bootstrap, prefix, group, redis, keyPrefix, worker, events,
 * workMs, maxConcurrency, hold.
 */
public final class ToolWorkerMain {

    private ToolWorkerMain() {}

    public static void main(String[] args) throws IOException {
        Map<String, String> options = new HashMap<>();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            options.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (RecordingTool tool = new RecordingTool(
                        options.get("worker"),
                        options.get("redis"),
                        options.get("events"),
                        Duration.ofMillis(Long.parseLong(options.getOrDefault("workMs", "0"))));
                ToolWorker worker = new ToolWorker(
                        Map.of("bootstrap.servers", options.get("bootstrap")),
                        Topics.create(options.get("prefix"), Map.of()),
                        ToolWorkerConfig.defaults()
                                .withGroupId(options.get("group"))
                                .withMaxConcurrency(Integer.parseInt(options.getOrDefault("maxConcurrency", "64")))
                                .withRedis(
                                        RedisSettings.of(options.get("redis")).withKeyPrefix(options.get("keyPrefix"))),
                        ToolRegistry.builder().add(tool).build())) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            out.println("CONSTRUCTED");
            if (Boolean.parseBoolean(options.getOrDefault("hold", "false"))) {
                String line;
                while ((line = in.readLine()) != null && !line.equals("START")) {
                    // waiting for the parent's go
                }
            }
            worker.start();
            out.println("READY");
            while (in.readLine() != null) {
                // runs until the parent closes our standard input (or dies)
            }
        }
        out.println("STOPPED");
    }
}
