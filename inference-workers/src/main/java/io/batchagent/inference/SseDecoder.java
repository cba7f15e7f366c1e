package io.batchagent.inference;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Splits a server-sent event stream into events, per the HTML living standard's event stream format:
 * lines end at LF (a CR before it is dropped), {@code data:} lines are joined with LF within an event,
 * {@code event:} names it, a blank line dispatches it, lines starting with {@code :} are comments.
 * Bytes are split into lines before decoding, so a chunk boundary may fall anywhere, even inside a
 * multi-byte character. A line's bytes are copied into one buffer by range (the engine client's event loop runs
 * this for every token of every answer; a synchronized write per byte was its largest item after JSON parsing).
 *
 * <p>Not thread-safe: one decoder per stream, fed by one subscriber.
 */
final class SseDecoder {

    /** Receives each dispatched event. */
    @FunctionalInterface
    interface Listener {
        /**
         * @param event the event's name, or null when it has none (the default "message")
         * @param data the event's data lines joined with LF
         */
        void onEvent(String event, String data);
    }

    private final Listener listener;
    private byte[] line = new byte[256];
    private int lineLength;
    private final StringBuilder data = new StringBuilder();
    private boolean hasData;
    private String event;

    SseDecoder(Listener listener) {
        this.listener = listener;
    }

    /** Consumes the next bytes of the stream. */
    void feed(byte[] chunk) {
        int start = 0;
        for (int i = 0; i < chunk.length; i++) {
            if (chunk[i] == '\n') {
                append(chunk, start, i - start);
                onLine(takeLine());
                start = i + 1;
            }
        }
        append(chunk, start, chunk.length - start);
    }

    private void append(byte[] bytes, int offset, int length) {
        if (length == 0) {
            return;
        }
        if (lineLength + length > line.length) {
            line = Arrays.copyOf(line, Math.max(2 * line.length, lineLength + length));
        }
        System.arraycopy(bytes, offset, line, lineLength, length);
        lineLength += length;
    }

    private String takeLine() {
        String text = new String(line, 0, lineLength, StandardCharsets.UTF_8);
        lineLength = 0;
        return text;
    }

    /** Ends the stream: a last line without its LF, and an event without its blank line, are dispatched. */
    void finish() {
        if (lineLength > 0) {
            onLine(takeLine());
        }
        dispatch();
    }

    private void onLine(String raw) {
        String text = raw.endsWith("\r") ? raw.substring(0, raw.length() - 1) : raw;
        if (text.isEmpty()) {
            dispatch();
            return;
        }
        if (text.startsWith(":")) {
            return;
        }
        int colon = text.indexOf(':');
        String field = colon < 0 ? text : text.substring(0, colon);
        String value = colon < 0 ? "" : text.substring(colon + 1);
        if (value.startsWith(" ")) {
            value = value.substring(1);
        }
        if (field.equals("data")) {
            if (hasData) {
                data.append('\n');
            }
            data.append(value);
            hasData = true;
        } else if (field.equals("event")) {
            event = value;
        }
        // id: and retry: carry nothing for model answers.
    }

    private void dispatch() {
        String name = event;
        event = null;
        if (!hasData) {
            return;
        }
        String text = data.toString();
        data.setLength(0);
        hasData = false;
        listener.onEvent(name == null || name.isEmpty() ? null : name, text);
    }
}
