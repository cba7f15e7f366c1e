package io.batchagent.cli;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code batchagent} command in a JVM of its own, on the test class path, its stdout and stderr in
 * files under a test's directory (kept for whoever reads a failure). Closing it kills it and its JVM.
 */
final class RoleProcess implements AutoCloseable {

    private final String name;
    private final Process process;
    private final Path stdout;
    private final Path stderr;

    private RoleProcess(String name, Process process, Path stdout, Path stderr) {
        this.name = name;
        this.process = process;
        this.stdout = stdout;
        this.stderr = stderr;
    }

    /** Starts {@code batchagent ARGS...}, logging to {@code logDir/name.out} and {@code logDir/name.err}. */
    static RoleProcess start(String name, Path logDir, String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx384m",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
                BatchAgentCommand.class.getName()));
        command.addAll(List.of(args));
        Files.createDirectories(logDir);
        Path out = logDir.resolve(name + ".out");
        Path err = logDir.resolve(name + ".err");
        Process process = new ProcessBuilder(command)
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .start();
        return new RoleProcess(name, process, out, err);
    }

    /** Waits for a stdout line matching {@code pattern} and returns its first group (or the line). */
    String awaitStdout(Pattern pattern, Duration atMost) {
        String[] found = new String[1];
        await(name + " printing " + pattern)
                .atMost(atMost)
                .pollInterval(Duration.ofMillis(200))
                .until(() -> {
                    if (!process.isAlive() && found[0] == null) {
                        throw new IllegalStateException(
                                name + " exited with " + process.exitValue() + ": " + stderrTail());
                    }
                    for (String line : Files.readAllLines(stdout, StandardCharsets.UTF_8)) {
                        Matcher matcher = pattern.matcher(line);
                        if (matcher.find()) {
                            found[0] = matcher.groupCount() > 0 ? matcher.group(1) : line;
                            return true;
                        }
                    }
                    return false;
                });
        return found[0];
    }

    /** Waits for the command to exit and returns its exit code. */
    int awaitExit(Duration atMost) throws InterruptedException {
        if (!process.waitFor(atMost.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException(name + " did not exit within " + atMost + ": " + stderrTail());
        }
        return process.exitValue();
    }

    String stdout() throws IOException {
        return Files.readString(stdout, StandardCharsets.UTF_8);
    }

    String stderrTail() {
        try {
            List<String> lines = Files.readAllLines(stderr, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
        } catch (IOException e) {
            return "(no stderr: " + e.getMessage() + ")";
        }
    }

    /** Kills the JVM at once (SIGKILL), as a crash would: nothing is closed, no group is left. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(1, TimeUnit.MINUTES);
    }

    /** Stops the command (SIGTERM, then SIGKILL after 30 s). */
    @Override
    public void close() {
        try {
            if (process.isAlive()) {
                process.destroy();
                if (!process.waitFor(30, TimeUnit.SECONDS)) {
                    kill();
                }
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
