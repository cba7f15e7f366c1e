package io.batchagent.bench.harness;

import com.sun.management.GarbageCollectionNotificationInfo;
import io.batchagent.bench.tools.ToolLedger;
import io.batchagent.cli.BatchAgentCommand;
import java.io.BufferedWriter;
import java.io.IOException;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import javax.management.NotificationEmitter;
import javax.management.openmbean.CompositeData;

/**
 * The main class of a worker process the scale benchmark starts: {@code batchagent worker ...} as the
 * distribution runs it, plus a heap log and, at exit, the bench tools' ledger.
 *
 * <p>Arguments: {@code <heap log> <ledger file> worker --role ...}. The heap log gets a line
 * {@code heap <epoch ms> <used bytes>} every 50 ms and {@code gc <epoch ms> <used bytes after>} after
 * every collection (the live heap).
 */
public final class WorkerProcess {

    private WorkerProcess() {}

    public static void main(String[] args) throws IOException {
        io.batchagent.schemas.serde.EventSerdes.trustEventClasses();
        Path heapLog = Path.of(args[0]);
        Path ledger = Path.of(args[1]);
        BufferedWriter log = Files.newBufferedWriter(heapLog, StandardCharsets.UTF_8);
        Object lock = new Object();
        java.util.Set<String> heapPools = new java.util.HashSet<>();
        ManagementFactory.getMemoryPoolMXBeans().stream()
                .filter(pool -> pool.getType() == java.lang.management.MemoryType.HEAP)
                .forEach(pool -> heapPools.add(pool.getName()));
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            ((NotificationEmitter) gc)
                    .addNotificationListener(
                            (notification, handback) -> {
                                if (!notification
                                        .getType()
                                        .equals(GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION)) {
                                    return;
                                }
                                GarbageCollectionNotificationInfo info = GarbageCollectionNotificationInfo.from(
                                        (CompositeData) notification.getUserData());
                                long after = info.getGcInfo().getMemoryUsageAfterGc().entrySet().stream()
                                        .filter(e -> heapPools.contains(e.getKey()))
                                        .mapToLong(e -> e.getValue().getUsed())
                                        .sum();
                                write(log, lock, "gc " + System.currentTimeMillis() + " " + after);
                            },
                            null,
                            null);
        }
        Thread sampler = new Thread(
                () -> {
                    while (true) {
                        write(
                                log,
                                lock,
                                "heap " + System.currentTimeMillis() + " "
                                        + ManagementFactory.getMemoryMXBean()
                                                .getHeapMemoryUsage()
                                                .getUsed());
                        try {
                            TimeUnit.MILLISECONDS.sleep(50);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                },
                "heap-sampler");
        sampler.setDaemon(true);
        sampler.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> ToolLedger.writeTo(ledger), "ledger"));
        int code = BatchAgentCommand.commandLine().execute(Arrays.copyOfRange(args, 2, args.length));
        System.exit(code);
    }

    private static void write(BufferedWriter log, Object lock, String line) {
        synchronized (lock) {
            try {
                log.write(line);
                log.newLine();
                log.flush();
            } catch (IOException ignored) {
                // the heap log is best effort; the benchmark reports what it has
            }
        }
    }
}
