package io.batchagent.bench.chaos;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The processes of a chaos campaign, by role name: each started with this JVM's class path, its
 * output in a log file per start ({@code <role>-<n>.log}), and known to be up once its log shows its
 * ready line. Roles can be SIGKILLed, stopped with SIGTERM and started again. Not thread-safe: one
 * driver thread uses it.
 */
final class ChaosProcesses implements AutoCloseable {

    /** How a role is started: the JVM options and main class with its arguments, and its ready line. */
    record Role(String name, List<String> jvmOptions, List<String> mainAndArgs, String readyLine, boolean mustStayUp) {}

    private final Path dir;
    private final String classPath;
    private final Map<String, Role> roles = new LinkedHashMap<>();
    private final Map<String, Process> running = new LinkedHashMap<>();
    private final Map<String, Integer> starts = new LinkedHashMap<>();
    private final List<Path> logs = new ArrayList<>();

    ChaosProcesses(Path dir) {
        this.dir = dir;
        this.classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    }

    void define(Role role) {
        roles.put(role.name(), role);
    }

    List<String> roleNames() {
        return List.copyOf(roles.keySet());
    }

    /** Starts {@code name} and waits until its log shows the ready line. */
    void start(String name, long timeoutSeconds) {
        launch(name);
        awaitReady(name, timeoutSeconds);
    }

    /**
     * Starts {@code name} without waiting for it: the kill schedule goes on while a restarted role
     * boots, as a supervisor's restart would. {@link #awaitReady} waits for it later.
     */
    void launch(String name) {
        Role role = roles.get(name);
        int n = starts.merge(name, 1, Integer::sum);
        Path log = dir.resolve(name + "-" + n + ".log");
        logs.add(log);
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(role.jvmOptions());
        command.add("-cp");
        command.add(classPath);
        command.addAll(role.mainAndArgs());
        try {
            running.put(
                    name,
                    new ProcessBuilder(command)
                            .redirectErrorStream(true)
                            .redirectOutput(log.toFile())
                            .start());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Waits until the last start of {@code name} shows its ready line in its log. */
    void awaitReady(String name, long timeoutSeconds) {
        Role role = roles.get(name);
        Process process = running.get(name);
        Path log = dir.resolve(name + "-" + starts.get(name) + ".log");
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
            while (!Files.readString(log, StandardCharsets.UTF_8).contains(role.readyLine())) {
                if (process == null || !process.isAlive()) {
                    throw new IllegalStateException(name + " exited"
                            + (process == null ? "" : " with " + process.exitValue()) + " while starting; see " + log);
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(
                            name + " did not start within " + timeoutSeconds + " s; see " + log);
                }
                TimeUnit.MILLISECONDS.sleep(100);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting " + name, e);
        }
    }

    /** SIGKILL: no shutdown hook, no leaving the group, no flush. */
    void kill(String name) {
        Process process = running.remove(name);
        if (process != null) {
            process.destroyForcibly();
            waitFor(process, 30);
        }
    }

    /** SIGTERM, waiting up to 60 s for a clean exit (then SIGKILL). */
    void stop(String name) {
        Process process = running.remove(name);
        if (process != null) {
            process.destroy();
            if (!waitFor(process, 60)) {
                process.destroyForcibly();
                waitFor(process, 30);
            }
        }
    }

    Process process(String name) {
        return running.get(name);
    }

    /** The roles that must stay up and are not running: each one is a crash the campaign did not cause. */
    List<String> deadRoles() {
        List<String> dead = new ArrayList<>();
        for (Role role : roles.values()) {
            Process process = running.get(role.name());
            if (role.mustStayUp() && (process == null || !process.isAlive())) {
                dead.add(role.name());
            }
        }
        return dead;
    }

    int starts(String name) {
        return starts.getOrDefault(name, 0);
    }

    /** What {@code StreamsSettings.threadFailurePolicy} logs before it replaces a thread after a transient fault. */
    private static final String TRANSIENT_REPLACEMENT = "hit a transient fault; replacing it";

    /**
     * Every log line, of every start of every role, that holds one of {@code needles}, but for a thread
     * replacement that follows a transient fault.
     */
    List<String> logLines(List<String> needles) {
        List<String> found = new ArrayList<>();
        for (Path log : logs) {
            try {
                found.addAll(matching(
                        log.getFileName().toString(), Files.readAllLines(log, StandardCharsets.UTF_8), needles));
            } catch (IOException e) {
                found.add(log.getFileName() + ": unreadable log: " + e.getMessage());
            }
        }
        return found;
    }

    /** {@link #logLines} of one log. */
    static List<String> matching(String logName, List<String> lines, List<String> needles) {
        List<String> found = new ArrayList<>();
        int transientAt = -10;
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.contains(TRANSIENT_REPLACEMENT)) {
                transientAt = i;
                continue;
            }
            // A thread replaced right after the stage said the fault was transient (a broker away) is the
            // stage recovering, not crashing.
            boolean recovery = line.contains("Replacing thread") && i - transientAt <= 3;
            if (!recovery && needles.stream().anyMatch(line::contains)) {
                found.add(logName + ": " + line);
            }
        }
        return found;
    }

    private static boolean waitFor(Process process, long seconds) {
        try {
            return process.waitFor(seconds, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Stops every process, workers first and the broker last. */
    @Override
    public void close() {
        List<String> names = new ArrayList<>(running.keySet());
        for (int i = names.size() - 1; i >= 0; i--) {
            stop(names.get(i));
        }
    }
}
