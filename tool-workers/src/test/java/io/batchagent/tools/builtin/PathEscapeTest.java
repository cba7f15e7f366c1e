package io.batchagent.tools.builtin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.tools.ToolContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every way out of the root that a model might try is refused, with a message that says why. */
class PathEscapeTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ToolContext CONTEXT =
            new ToolContext("hash", "batch", Instant.now().plusSeconds(30));
    private static final String SECRET = "TOP SECRET outside the root";

    @TempDir
    Path temp;

    private Path root;
    private Path outside;

    @BeforeEach
    void layout() throws Exception {
        root = Files.createDirectories(temp.resolve("root"));
        outside = Files.createDirectories(temp.resolve("outside"));
        Files.writeString(outside.resolve("secret.txt"), SECRET);
        Files.createDirectories(root.resolve("docs"));
        Files.writeString(root.resolve("docs/readme.md"), "inside");
        Files.createSymbolicLink(root.resolve("secret-link.txt"), outside.resolve("secret.txt"));
        Files.createSymbolicLink(root.resolve("outside-dir"), outside);
        Files.createSymbolicLink(root.resolve("docs/up"), temp);
        Files.createSymbolicLink(root.resolve("chain-1"), root.resolve("chain-2"));
        Files.createSymbolicLink(root.resolve("chain-2"), outside.resolve("secret.txt"));
        Files.createSymbolicLink(root.resolve("relative-link"), Path.of("../outside/secret.txt"));
        Files.createSymbolicLink(root.resolve("etc-link"), Path.of("/etc"));
    }

    static Stream<Arguments> escapes() {
        return Stream.of(
                Arguments.of("../outside/secret.txt", "it leaves the root directory"),
                Arguments.of("docs/../../outside/secret.txt", "it leaves the root directory"),
                Arguments.of("./../outside/secret.txt", "it leaves the root directory"),
                Arguments.of("docs/./../../../../../../etc/passwd", "it leaves the root directory"),
                Arguments.of("..", "it leaves the root directory"),
                Arguments.of("/etc/passwd", "absolute paths are not allowed"),
                Arguments.of("//etc/passwd", "absolute paths are not allowed"),
                Arguments.of("/", "absolute paths are not allowed"),
                Arguments.of("C:/Windows/win.ini", "absolute paths are not allowed"),
                Arguments.of("..\\outside\\secret.txt", "backslashes are not path separators"),
                Arguments.of("docs\\..\\..\\outside\\secret.txt", "backslashes are not path separators"),
                Arguments.of("%2e%2e/outside/secret.txt", "percent-encoded characters"),
                Arguments.of("..%2foutside%2fsecret.txt", "percent-encoded characters"),
                Arguments.of("%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "percent-encoded characters"),
                Arguments.of("%252e%252e%252foutside", "percent-encoded characters"),
                Arguments.of("..%5coutside%5csecret.txt", "percent-encoded characters"),
                Arguments.of("%c0%ae%c0%ae/outside/secret.txt", "percent-encoded characters"),
                Arguments.of("docs/readme.md\u0000../../outside/secret.txt", "control characters"),
                Arguments.of("file:///etc/passwd", "URLs are not paths"),
                Arguments.of("~/.ssh/id_rsa", "'~' (a home directory) leaves the root directory"),
                Arguments.of("secret-link.txt", "a symbolic link leads outside the root directory"),
                Arguments.of("outside-dir/secret.txt", "a symbolic link leads outside the root directory"),
                Arguments.of("docs/up/outside/secret.txt", "a symbolic link leads outside the root directory"),
                Arguments.of("chain-1", "a symbolic link leads outside the root directory"),
                Arguments.of("relative-link", "a symbolic link leads outside the root directory"),
                Arguments.of("etc-link/passwd", "a symbolic link leads outside the root directory"),
                Arguments.of("．．/outside/secret.txt", "no file"),
                Arguments.of("x".repeat(5000), "the most is 4096"));
    }

    @ParameterizedTest(name = "read_file refuses {0}")
    @MethodSource("escapes")
    void shouldRefuseEveryEscapeFromTheRootOfReadFile(String path, String reason) {
        ReadFileTool tool = new ReadFileTool(root);

        assertThatThrownBy(() -> tool.execute(JSON.createObjectNode().put("path", path), CONTEXT))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("read_file")
                .hasMessageContaining(reason)
                .hasMessageNotContaining(SECRET);
    }

    @ParameterizedTest(name = "list_files refuses {0}")
    @MethodSource("escapes")
    void shouldRefuseEveryEscapeFromTheRootOfListFiles(String path, String reason) {
        ListFilesTool tool = new ListFilesTool(root);

        assertThatThrownBy(() -> tool.execute(JSON.createObjectNode().put("path", path), CONTEXT))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("list_files")
                .satisfies(e -> assertThat(e.getMessage()).containsAnyOf(reason, "is not a directory"));
    }

    @Test
    void shouldStillReadWhatIsInside() throws Exception {
        assertThat(new ReadFileTool(root).execute(JSON.createObjectNode().put("path", "docs/readme.md"), CONTEXT))
                .isEqualTo("inside");
    }
}
