package io.batchagent.bench.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Worker processes ({@code batchagent worker --role all}) started with this JVM's class path, each
 * with its own heap cap, heap log and tool ledger. Closing stops them (SIGTERM, so they leave their
 * groups and write their ledgers) and waits for them.
 */
public final class WorkerProcesses implements AutoCloseable {

    /** One started process and its files. */
    public record Worker(Process process, Path log, Path heapLog, Path ledger) {}

    private final List<Worker> workers = new ArrayList<>();

    /**
     * Starts {@code count} processes and waits until each says it runs.
     *
     * @param dir where their logs and state go
     * @param workerArgs the {@code batchagent worker} options, shared by all (state dirs are added per process)
     */
    public static WorkerProcesses start(int count, Path dir, String maxHeap, List<String> workerArgs) {
        WorkerProcesses started = new WorkerProcesses();
        try {
            Files.createDirectories(dir);
            for (int i = 0; i < count; i++) {
                Path log = dir.resolve("worker-" + i + ".log");
                Path heap = dir.resolve("worker-" + i + ".heap");
                Path ledger = dir.resolve("worker-" + i + ".ledger");
                List<String> command = new ArrayList<>(List.of(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-Xmx" + maxHeap,
                        "-Dlogback.configurationFile=bench-worker-logback.xml"));
                if (System.getenv("BENCH_WORKER_JFR") != null) {
                    // A profile of each worker process (JFR's "profile" settings), written when it exits.
                    command.add("-XX:StartFlightRecording=settings=profile,dumponexit=true,filename="
                            + dir.resolve("worker-" + i + ".jfr"));
                }
                String extra = System.getenv("BENCH_WORKER_JAVA_OPTS");
                if (extra != null && !extra.isBlank()) {
                    command.addAll(List.of(extra.trim().split("\\s+")));
                }
                command.addAll(List.of(
                        "-cp",
                        System.getProperty("java.class.path"),
                        WorkerProcess.class.getName(),
                        heap.toString(),
                        ledger.toString(),
                        "worker"));
                command.addAll(workerArgs);
                command.addAll(List.of("--state-dir", dir.resolve("state-" + i).toString()));
                Process process = new ProcessBuilder(command)
                        .redirectErrorStream(true)
                        .redirectOutput(log.toFile())
                        .start();
                started.workers.add(new Worker(process, log, heap, ledger));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
            for (Worker worker : started.workers) {
                while (!Files.readString(worker.log(), StandardCharsets.UTF_8).contains("batchagent worker running")) {
                    if (!worker.process().isAlive()) {
                        throw new IllegalStateException("a worker process exited while starting; see " + worker.log());
                    }
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException(
                                "a worker process did not start within 180 s; see " + worker.log());
                    }
                    TimeUnit.MILLISECONDS.sleep(100);
                }
            }
            return started;
        } catch (IOException e) {
            started.close();
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            started.close();
            throw new IllegalStateException("interrupted while starting workers", e);
        } catch (RuntimeException e) {
            started.close();
            throw e;
        }
    }

    public List<Worker> workers() {
        return workers;
    }

    @Override
    public void close() {
        workers.forEach(w -> w.process().destroy());
        for (Worker w : workers) {
            try {
                if (!w.process().waitFor(60, TimeUnit.SECONDS)) {
                    w.process().destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                w.process().destroyForcibly();
            }
        }
    }
}
