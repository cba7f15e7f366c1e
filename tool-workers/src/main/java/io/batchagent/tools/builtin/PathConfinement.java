package io.batchagent.tools.builtin;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * Resolves a path a model gave against a root directory and refuses every way out of it, each with a
 * message that says what was wrong:
 * <ul>
 *   <li>control characters (NUL included), percent-encoded characters ({@code %2e}, {@code %2f},
 *       {@code %252e}...), backslashes, URLs ({@code file:...}), {@code ~} and over-long paths, before
 *       the path is interpreted at all;
 *   <li>absolute paths ({@code /etc/passwd}, {@code //host/share}, {@code C:...});
 *   <li>{@code ..} that climbs above the root, after normalisation;
 *   <li>a symbolic link anywhere along the path that leads outside the root: the check is made on the
 *       real path, with every link resolved.
 * </ul>
 * The check and the later open are two steps; the root should not be writable by untrusted parties.
 */
final class PathConfinement {

    static final int MAX_PATH_CHARS = 4096;

    private static final Pattern PERCENT_ENCODED = Pattern.compile("%[0-9A-Fa-f]{2}");
    private static final Pattern URL_SCHEME = Pattern.compile("^[A-Za-z][A-Za-z0-9+.-]*:");

    private PathConfinement() {}

    /** The real directory of a configured root. */
    static Path realRoot(Path configured, String tool, String property) throws IOException {
        if (configured == null) {
            throw new IllegalStateException(tool + " has no root directory configured, so it reads nothing; "
                    + "set the tool option " + tool + ".root or the system property " + property);
        }
        try {
            Path real = configured.toRealPath();
            if (!Files.isDirectory(real)) {
                throw new IllegalStateException(tool + " root " + configured + " is not a directory");
            }
            return real;
        } catch (NoSuchFileException e) {
            throw new IllegalStateException(tool + " root " + configured + " does not exist", e);
        }
    }

    /**
     * The real path of {@code requested} under {@code realRoot}.
     *
     * @throws IllegalArgumentException saying why the path is refused, or that nothing is there
     */
    static Path resolve(Path realRoot, String requested, String tool) throws IOException {
        refuseTricks(requested, tool);
        Path candidate;
        try {
            candidate = realRoot.resolve(requested).normalize();
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException(tool + ": '" + requested + "' is not a valid path", e);
        }
        if (!candidate.startsWith(realRoot)) {
            throw new IllegalArgumentException(tool + " refuses '" + requested + "': it leaves the root directory");
        }
        Path real;
        try {
            real = candidate.toRealPath();
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(tool + ": no file '" + requested + "' under the root directory", e);
        }
        if (!real.startsWith(realRoot)) {
            throw new IllegalArgumentException(
                    tool + " refuses '" + requested + "': a symbolic link leads outside the root directory");
        }
        return real;
    }

    /** The path as the model should see it: relative to the root, with '/' separators. */
    static String relative(Path realRoot, Path path) {
        String relative = realRoot.relativize(path).toString().replace('\\', '/');
        return relative.isEmpty() ? "." : relative;
    }

    private static void refuseTricks(String requested, String tool) {
        String refuses = tool + " refuses '" + printable(requested) + "': ";
        if (requested.length() > MAX_PATH_CHARS) {
            throw new IllegalArgumentException(
                    tool + " refuses a path of " + requested.length() + " characters; the most is " + MAX_PATH_CHARS);
        }
        for (int i = 0; i < requested.length(); i++) {
            if (Character.isISOControl(requested.charAt(i))) {
                throw new IllegalArgumentException(refuses + "paths may not contain control characters");
            }
        }
        if (PERCENT_ENCODED.matcher(requested).find()) {
            throw new IllegalArgumentException(refuses + "percent-encoded characters are not decoded here; "
                    + "give the path as plain text, relative to the root directory");
        }
        if (requested.indexOf('\\') >= 0) {
            throw new IllegalArgumentException(refuses + "backslashes are not path separators here; use '/'");
        }
        if (requested.startsWith("/") || requested.matches("^[A-Za-z]:.*")) {
            throw new IllegalArgumentException(refuses + "it leaves the root directory (absolute paths are not "
                    + "allowed; give a path relative to the root directory)");
        }
        if (URL_SCHEME.matcher(requested).find()) {
            throw new IllegalArgumentException(
                    refuses + "URLs are not paths; give a path relative to the root directory");
        }
        if (requested.startsWith("~")) {
            throw new IllegalArgumentException(refuses + "'~' (a home directory) leaves the root directory");
        }
    }

    private static String printable(String text) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < text.length() && i < 200; i++) {
            char c = text.charAt(i);
            out.append(Character.isISOControl(c) ? String.format("\\u%04x", (int) c) : String.valueOf(c));
        }
        return text.length() > 200 ? out + "..." : out.toString();
    }

    static boolean isRegularFileNoFollow(Path path) {
        return Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS);
    }
}
