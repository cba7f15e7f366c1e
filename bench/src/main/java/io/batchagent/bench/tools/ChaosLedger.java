package io.batchagent.bench.tools;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The chaos campaign's record of tool executions that ran to the end, one line appended (and
 * written through to the file) per execution, so that it survives the process being SIGKILLed
 * right after. The file is named by the system property {@value #PROPERTY}; without it nothing is
 * written. Lines: tool, key, process id, epoch milliseconds, tab-separated.
 */
public final class ChaosLedger {

    public static final String PROPERTY = "batchagent.chaos.ledger";

    /** One completed execution. */
    public record Entry(String tool, String key, long pid, long atMs) {}

    private ChaosLedger() {}

    static synchronized void completed(String tool, String key) {
        String file = System.getProperty(PROPERTY);
        if (file == null) {
            return;
        }
        String line =
                tool + '\t' + key + '\t' + ProcessHandle.current().pid() + '\t' + System.currentTimeMillis() + '\n';
        try {
            Files.writeString(
                    Path.of(file),
                    line,
                    StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND,
                    StandardOpenOption.DSYNC);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot append to the chaos ledger " + file, e);
        }
    }

    /** Every entry of every ledger file in {@code dir} whose name starts with {@code ledger-}. */
    public static List<Entry> read(Path dir) {
        List<Entry> entries = new ArrayList<>();
        try (var files = Files.list(dir)) {
            for (Path file : files.filter(f -> f.getFileName().toString().startsWith("ledger-"))
                    .toList()) {
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    String[] parts = line.split("\t");
                    if (parts.length == 4) {
                        entries.add(new Entry(parts[0], parts[1], Long.parseLong(parts[2]), Long.parseLong(parts[3])));
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return entries;
    }
}
