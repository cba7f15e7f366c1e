package io.batchagent.cli;

import io.batchagent.client.ResultJson;
import io.batchagent.events.AgentResult;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * The {@code --output} file: one JSON line per job ({@link ResultJson}), each written and flushed as
 * its result arrives, so that a run that is killed, times out or stalls leaves every result it got.
 *
 * <p>The file is rewritten from the results topic on every run: it is truncated when the batch has
 * been submitted, and the collector then passes on every job's result, those of earlier runs
 * first. So a rerun never duplicates a line, and a job run again ({@code --retry-failed}) has only
 * its new result in the file. A job's result is written once per run.
 *
 * <p>Thread-safe.
 */
final class ResultsFile implements AutoCloseable {

    private final Path path;
    private final Writer writer;
    private final Set<String> written = new HashSet<>();

    private ResultsFile(Path path, Writer writer) {
        this.path = path;
        this.writer = writer;
    }

    /** Creates or truncates {@code path}. */
    static ResultsFile create(Path path) throws IOException {
        return new ResultsFile(path, Files.newBufferedWriter(path, StandardCharsets.UTF_8));
    }

    Path path() {
        return path;
    }

    /** Appends {@code result} as one line and flushes it to the file, unless its job has a line already. */
    synchronized void write(AgentResult result) {
        if (!written.add(result.getJobId())) {
            return;
        }
        try {
            writer.write(ResultJson.toJson(result));
            writer.write('\n');
            writer.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write to " + path + ": " + e.getMessage(), e);
        }
    }

    /** Lines written so far. */
    synchronized int written() {
        return written.size();
    }

    @Override
    public synchronized void close() throws IOException {
        writer.close();
    }
}
