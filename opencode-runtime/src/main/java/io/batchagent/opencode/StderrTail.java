package io.batchagent.opencode;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/** Keeps the last characters a process wrote to a stream. Fed by one thread; read after it stopped. */
final class StderrTail {

    private final int limit;
    private final StringBuilder tail = new StringBuilder();

    StderrTail(int limit) {
        this.limit = limit;
    }

    /** Reads {@code stream} to its end, keeping the last {@code limit} characters. */
    void pump(InputStream stream) {
        byte[] buffer = new byte[8192];
        try (stream) {
            int read;
            while ((read = stream.read(buffer)) >= 0) {
                append(new String(buffer, 0, read, StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            // The stream closes when the process is killed; what was read stands.
        }
    }

    private synchronized void append(String text) {
        tail.append(text);
        if (tail.length() > 2 * limit + 1024) {
            tail.delete(0, tail.length() - limit);
        }
    }

    synchronized String text() {
        String all = tail.toString();
        return all.length() <= limit
                ? all.strip()
                : all.substring(all.length() - limit).strip();
    }
}
