package io.batchagent.tools.builtin;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code read_file}: reads a UTF-8 text file under one root directory.
 *
 * <p>Safe by default:
 * <ul>
 *   <li>With no root configured it refuses every call. The root comes from the constructor, the
 *       system property {@value #ROOT_PROPERTY}, or the tool option {@code read_file.root} (which
 *       replaces the others).
 *   <li>The {@code path} argument is resolved against the root; a path that leaves the root, by
 *       {@code ..}, by being absolute, or through a symbolic link anywhere along it, is refused: the
 *       check is made on the real path, with every link resolved. Percent-encoded characters,
 *       backslashes, control characters, URLs and {@code ~} are refused before the path is
 *       interpreted ({@link PathConfinement}).
 *   <li>At most {@code max.bytes} bytes are read (default {@value #DEFAULT_MAX_BYTES}); the output
 *       then ends with a note saying how many bytes were cut.
 *   <li>A file that is not valid UTF-8 is refused rather than garbled.
 * </ul>
 *
 * <p>Limit: the check and the open are two steps, so a process that can rename directories under
 * the root between them could redirect a read; the root should not be writable by untrusted
 * parties. Thread-safe.
 */
public final class ReadFileTool implements Tool {

    public static final String NAME = "read_file";
    public static final String ROOT_PROPERTY = "batchagent.tools.read_file.root";
    public static final int DEFAULT_MAX_BYTES = 64 * 1024;

    private volatile Path root;
    private volatile int maxBytes;

    /** Root from the system property {@value #ROOT_PROPERTY}, if set; used by {@link java.util.ServiceLoader}. */
    public ReadFileTool() {
        this(rootFromSystemProperty(), DEFAULT_MAX_BYTES);
    }

    /** @param root the directory files are read from, or null to refuse every call */
    public ReadFileTool(Path root) {
        this(root, DEFAULT_MAX_BYTES);
    }

    /**
     * @param root the directory files are read from, or null to refuse every call
     * @param maxBytes the most bytes of a file returned, at least 1
     */
    public ReadFileTool(Path root, int maxBytes) {
        this.root = root;
        this.maxBytes = checkMaxBytes(maxBytes);
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String description() {
        return "Reads a UTF-8 text file under the worker's configured root directory, up to " + maxBytes
                + " bytes. The path is relative to that root.";
    }

    @Override
    public String parametersJson() {
        return "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\","
                + "\"description\":\"file path relative to the root directory\"}},\"required\":[\"path\"]}";
    }

    /** Options: {@code root} (a directory) and {@code max.bytes} (at least 1). */
    @Override
    public void configure(Map<String, String> options) {
        String configuredRoot = options.get("root");
        if (configuredRoot != null) {
            root = configuredRoot.isBlank() ? null : Path.of(configuredRoot);
        }
        String configuredMax = options.get("max.bytes");
        if (configuredMax != null) {
            try {
                maxBytes = checkMaxBytes(Integer.parseInt(configuredMax.trim()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("max.bytes must be an integer, got '" + configuredMax + "'", e);
            }
        }
    }

    /** The configured root, or null when the tool refuses every call. */
    public Path root() {
        return root;
    }

    /**
     * @throws IllegalStateException if no usable root is configured
     * @throws IllegalArgumentException if the path is missing, leaves the root, is not a regular
     *     file, or the file is not UTF-8
     */
    @Override
    public String execute(JsonNode arguments, ToolContext context) throws IOException {
        Path realRoot = realRoot();
        String requested = Arguments.requiredText(arguments, NAME, "path");
        Path file = resolve(realRoot, requested);
        int limit = maxBytes;
        byte[] bytes;
        boolean cut;
        // The real path has no links left; NOFOLLOW_LINKS refuses one that appeared since.
        try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
            bytes = in.readNBytes(limit);
            cut = in.read() != -1;
        }
        String text = decodeUtf8(bytes, cut, requested);
        if (!cut) {
            return text;
        }
        long size = Files.size(file);
        long shown = text.getBytes(StandardCharsets.UTF_8).length;
        return text + "\n[read_file: showed the first " + shown + " of " + size + " bytes; " + (size - shown)
                + " bytes cut]";
    }

    private Path realRoot() throws IOException {
        return PathConfinement.realRoot(root, NAME, ROOT_PROPERTY);
    }

    private static Path resolve(Path realRoot, String requested) throws IOException {
        Path real = PathConfinement.resolve(realRoot, requested, NAME);
        if (!PathConfinement.isRegularFileNoFollow(real)) {
            throw new IllegalArgumentException("read_file: '" + requested + "' is not a regular file");
        }
        return real;
    }

    /** Strict UTF-8; when the read was cut, a character split by the cut is dropped rather than refused. */
    private static String decodeUtf8(byte[] bytes, boolean cut, String requested) {
        CharsetDecoder decoder = StandardCharsets.UTF_8
                .newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult result = decoder.decode(ByteBuffer.wrap(bytes), out, !cut);
        if (!result.isError() && !cut) {
            result = decoder.flush(out);
        }
        if (result.isError()) {
            throw new IllegalArgumentException("read_file: '" + requested + "' is not a UTF-8 text file");
        }
        return out.flip().toString();
    }

    private static Path rootFromSystemProperty() {
        String value = System.getProperty(ROOT_PROPERTY);
        return value == null || value.isBlank() ? null : Path.of(value);
    }

    private static int checkMaxBytes(int value) {
        if (value < 1) {
            throw new IllegalArgumentException("max.bytes must be at least 1, got " + value);
        }
        return value;
    }
}
