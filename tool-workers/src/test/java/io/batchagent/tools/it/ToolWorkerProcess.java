package io.batchagent.tools.it;

import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/** A {@link ToolWorkerMain} in a child JVM on the test class path: a real second tool-worker process. */
public final class ToolWorkerProcess implements AutoCloseable {

    private final Process process;
    private final List<String> lines = new CopyOnWriteArrayList<>();

    private ToolWorkerProcess(Process process) {
        this.process = process;
        Thread reader = new Thread(
                () -> {
                    try (BufferedReader in = new BufferedReader(
                            new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                        String line;
                        while ((line = in.readLine()) != null) {
                            lines.add(line);
                        }
                    } catch (IOException e) {
                        // the process ended
                    }
                },
                "tool-worker-process-stdout");
        reader.setDaemon(true);
        reader.start();
    }

    /** Starts the process and waits until its worker runs. */
    public static ToolWorkerProcess start(Map<String, String> options, Path logFile) throws IOException {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m",
                "-XX:TieredStopAtLevel=1",
                "-Dlogback.configurationFile=logback-child.xml",
                "-cp",
                classPath,
                ToolWorkerMain.class.getName()));
        options.forEach((key, value) -> command.add(key + "=" + value));
        Process process = new ProcessBuilder(command)
                .redirectError(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                .start();
        ToolWorkerProcess child = new ToolWorkerProcess(process);
        String awaited = Boolean.parseBoolean(options.getOrDefault("hold", "false")) ? "CONSTRUCTED" : "READY";
        await().atMost(Duration.ofSeconds(60)).until(() -> child.lines.contains(awaited) || !process.isAlive());
        if (!process.isAlive()) {
            throw new IllegalStateException(
                    "the tool worker process exited with " + process.exitValue() + "; see " + logFile);
        }
        return child;
    }

    /** For a process started with {@code hold=true}: lets its worker start consuming, and waits until it does. */
    public void go() throws IOException {
        process.getOutputStream().write("START\n".getBytes(StandardCharsets.UTF_8));
        process.getOutputStream().flush();
        await().atMost(Duration.ofSeconds(30)).until(() -> lines.contains("READY") || !process.isAlive());
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Closes the process's standard input, which stops its worker cleanly, and waits for it to exit. */
    @Override
    public void close() throws IOException {
        if (process.isAlive()) {
            process.getOutputStream().close();
            try {
                await().atMost(Duration.ofSeconds(30)).until(() -> !process.isAlive());
            } finally {
                process.destroyForcibly();
            }
        }
    }
}
