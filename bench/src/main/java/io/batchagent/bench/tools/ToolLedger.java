package io.batchagent.bench.tools;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Every execution of a bench tool in this JVM: how many per tool, and each one's key and duration.
 * The drivers read it to count executions (whoever ran them: the raw loop or a tool worker in this
 * process) and to take tool time out of the orchestration overhead. Worker processes write theirs
 * to a file at exit ({@link #writeTo}). Thread-safe.
 */
public final class ToolLedger {

    /** One execution: the tool, its key argument, when it started and ended ({@link System#nanoTime()}). */
    public record Execution(String tool, String key, long startNanos, long endNanos) {
        public long durationNanos() {
            return endNanos - startNanos;
        }
    }

    private static final Map<String, AtomicLong> COUNTS = new ConcurrentHashMap<>();
    private static final ConcurrentLinkedQueue<Execution> EXECUTIONS = new ConcurrentLinkedQueue<>();

    private ToolLedger() {}

    static void record(String tool, String key, long startNanos, long endNanos) {
        COUNTS.computeIfAbsent(tool, t -> new AtomicLong()).incrementAndGet();
        EXECUTIONS.add(new Execution(tool, key, startNanos, endNanos));
    }

    /** Executions of {@code tool} in this JVM since start or the last {@link #reset()}. */
    public static long executions(String tool) {
        AtomicLong count = COUNTS.get(tool);
        return count == null ? 0 : count.get();
    }

    /** Every execution recorded since start or the last {@link #reset()}. */
    public static List<Execution> executions() {
        return new ArrayList<>(EXECUTIONS);
    }

    public static void reset() {
        COUNTS.clear();
        EXECUTIONS.clear();
    }

    /** Writes one tab-separated line per execution: tool, key, duration in nanoseconds. */
    public static void writeTo(Path file) {
        StringBuilder out = new StringBuilder();
        for (Execution e : EXECUTIONS) {
            out.append(e.tool())
                    .append('\t')
                    .append(e.key())
                    .append('\t')
                    .append(e.durationNanos())
                    .append('\n');
        }
        try {
            Files.writeString(file, out, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads a file written by {@link #writeTo}: key to duration in nanoseconds, per tool. */
    public static Map<String, Long> readDurations(Path file, String tool) {
        Map<String, Long> durations = new ConcurrentHashMap<>();
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                String[] parts = line.split("\t");
                if (parts.length == 3 && parts[0].equals(tool)) {
                    durations.put(parts[1], Long.parseLong(parts[2]));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return durations;
    }
}
