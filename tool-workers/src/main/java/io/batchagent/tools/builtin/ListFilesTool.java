package io.batchagent.tools.builtin;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * {@code list_files}: lists a directory under one root directory, optionally its subdirectories too.
 *
 * <p>Safe by default, with the same confinement as {@code read_file} ({@link PathConfinement}):
 * no root configured means every call is refused; the root comes from the constructor, the system
 * property {@value #ROOT_PROPERTY} (else {@value ReadFileTool#ROOT_PROPERTY}), or the tool option
 * {@code list_files.root}. Symbolic links are listed as links and never followed while walking, so a
 * walk cannot leave the root. At most {@code max_entries} entries are listed (default
 * {@value #DEFAULT_MAX_ENTRIES}, at most the option {@code list_files.max.entries}, itself default
 * {@value #LIMIT_MAX_ENTRIES}); the output then says how many were left out. Thread-safe.
 */
public final class ListFilesTool implements Tool {

    public static final String NAME = "list_files";
    public static final String ROOT_PROPERTY = "batchagent.tools.list_files.root";
    public static final int DEFAULT_MAX_ENTRIES = 200;
    public static final int LIMIT_MAX_ENTRIES = 2_000;
    public static final int MAX_DEPTH = 8;

    private volatile Path root;
    private volatile int maxEntries = LIMIT_MAX_ENTRIES;

    /** Root from {@value #ROOT_PROPERTY} or {@value ReadFileTool#ROOT_PROPERTY}; used by {@link java.util.ServiceLoader}. */
    public ListFilesTool() {
        this(rootFromSystemProperties());
    }

    /** @param root the directory listed, or null to refuse every call */
    public ListFilesTool(Path root) {
        this.root = root;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String description() {
        return "Lists the files and directories under a directory of the worker's configured root directory. "
                + "Paths are relative to that root.";
    }

    @Override
    public String parametersJson() {
        return "{\"type\":\"object\",\"properties\":{"
                + "\"path\":{\"type\":\"string\",\"description\":\"directory relative to the root; default the root\"},"
                + "\"recursive\":{\"type\":\"boolean\",\"description\":\"also list subdirectories, up to " + MAX_DEPTH
                + " levels\"},"
                + "\"max_entries\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":" + LIMIT_MAX_ENTRIES + "}}}";
    }

    /** Options: {@code root} (a directory) and {@code max.entries} (at least 1). */
    @Override
    public void configure(Map<String, String> options) {
        String configuredRoot = options.get("root");
        if (configuredRoot != null) {
            root = configuredRoot.isBlank() ? null : Path.of(configuredRoot);
        }
        String configuredMax = options.get("max.entries");
        if (configuredMax != null) {
            int value;
            try {
                value = Integer.parseInt(configuredMax.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("max.entries must be an integer, got '" + configuredMax + "'", e);
            }
            if (value < 1) {
                throw new IllegalArgumentException("max.entries must be at least 1, got " + value);
            }
            maxEntries = value;
        }
    }

    @Override
    public String execute(JsonNode arguments, ToolContext context) throws IOException {
        Path realRoot = PathConfinement.realRoot(root, NAME, ROOT_PROPERTY);
        JsonNode pathArgument = arguments.path("path");
        String requested = pathArgument.isMissingNode()
                        || pathArgument.isNull()
                        || pathArgument.asText().isBlank()
                ? "."
                : Arguments.requiredText(arguments, NAME, "path");
        Path directory = PathConfinement.resolve(realRoot, requested, NAME);
        if (!Files.isDirectory(directory, LinkOption.NOFOLLOW_LINKS)) {
            throw new IllegalArgumentException("list_files: '" + requested + "' is not a directory");
        }
        boolean recursive = arguments.path("recursive").asBoolean(false);
        int limit = Arguments.optionalInt(
                arguments, NAME, "max_entries", Math.min(DEFAULT_MAX_ENTRIES, maxEntries), 1, maxEntries);
        List<String> lines = new ArrayList<>();
        int[] total = {0};
        walk(realRoot, directory, recursive ? MAX_DEPTH : 1, limit, lines, total);
        StringBuilder out = new StringBuilder();
        out.append(PathConfinement.relative(realRoot, directory)).append('/').append('\n');
        lines.forEach(line -> out.append(line).append('\n'));
        if (total[0] > lines.size()) {
            out.append("[list_files: showed ")
                    .append(lines.size())
                    .append(" of ")
                    .append(total[0])
                    .append(" entries; ")
                    .append(total[0] - lines.size())
                    .append(" left out]\n");
        } else if (lines.isEmpty()) {
            out.append("(empty)\n");
        }
        return out.toString();
    }

    private static void walk(Path realRoot, Path directory, int depth, int limit, List<String> lines, int[] total)
            throws IOException {
        List<Path> children = new ArrayList<>();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(directory)) {
            stream.forEach(children::add);
        }
        children.sort(Comparator.comparing(p -> p.getFileName().toString()));
        for (Path child : children) {
            if (Thread.currentThread().isInterrupted()) {
                throw new IOException("list_files was interrupted");
            }
            total[0]++;
            BasicFileAttributes attributes =
                    Files.readAttributes(child, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            String name = PathConfinement.relative(realRoot, child);
            if (lines.size() < limit) {
                if (attributes.isSymbolicLink()) {
                    lines.add(name + " (symbolic link)");
                } else if (attributes.isDirectory()) {
                    lines.add(name + "/");
                } else {
                    lines.add(name + " (" + attributes.size() + " bytes)");
                }
            }
            if (attributes.isDirectory() && !attributes.isSymbolicLink() && depth > 1) {
                walk(realRoot, child, depth - 1, limit, lines, total);
            }
        }
    }

    private static Path rootFromSystemProperties() {
        String value = System.getProperty(ROOT_PROPERTY, System.getProperty(ReadFileTool.ROOT_PROPERTY));
        return value == null || value.isBlank() ? null : Path.of(value);
    }
}
