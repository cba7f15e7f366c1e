package io.batchagent.tools.builtin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.tools.ToolContext;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReadFileToolTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ToolContext CONTEXT =
            new ToolContext("hash", "batch", Instant.now().plusSeconds(30));

    @TempDir
    Path temp;

    private Path root;
    private Path outside;

    @BeforeEach
    void files() throws Exception {
        root = Files.createDirectories(temp.resolve("root"));
        outside = Files.createDirectories(temp.resolve("outside"));
        Files.writeString(root.resolve("notes.txt"), "hello from the root");
        Files.createDirectories(root.resolve("docs"));
        Files.writeString(root.resolve("docs/a.md"), "# A");
        Files.writeString(outside.resolve("secret.txt"), "do not read");
    }

    private static JsonNode path(String path) {
        return JSON.createObjectNode().put("path", path);
    }

    @Test
    void shouldReadAFileUnderTheRoot() throws Exception {
        ReadFileTool tool = new ReadFileTool(root);

        assertThat(tool.execute(path("notes.txt"), CONTEXT)).isEqualTo("hello from the root");
        assertThat(tool.execute(path("docs/../docs/a.md"), CONTEXT)).isEqualTo("# A");
    }

    @Test
    void shouldRefuseDotDotEscapes() {
        ReadFileTool tool = new ReadFileTool(root);

        assertThatThrownBy(() -> tool.execute(path("../outside/secret.txt"), CONTEXT))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("read_file refuses '../outside/secret.txt': it leaves the root directory");
        assertThatThrownBy(() -> tool.execute(path("docs/../../outside/secret.txt"), CONTEXT))
                .hasMessageContaining("leaves the root directory");
        assertThatThrownBy(() -> tool.execute(path(outside.resolve("secret.txt").toString()), CONTEXT))
                .hasMessageContaining("leaves the root directory");
    }

    @Test
    void shouldRefuseSymlinksLeadingOutsideTheRoot() throws Exception {
        Files.createSymbolicLink(root.resolve("link.txt"), outside.resolve("secret.txt"));
        Files.createSymbolicLink(root.resolve("linkdir"), outside);
        ReadFileTool tool = new ReadFileTool(root);

        assertThatThrownBy(() -> tool.execute(path("link.txt"), CONTEXT))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("read_file refuses 'link.txt': a symbolic link leads outside the root directory");
        assertThatThrownBy(() -> tool.execute(path("linkdir/secret.txt"), CONTEXT))
                .hasMessageContaining("a symbolic link leads outside the root directory");
    }

    @Test
    void shouldFollowSymlinksThatStayInsideTheRoot() throws Exception {
        Files.createSymbolicLink(root.resolve("alias.txt"), root.resolve("notes.txt"));

        assertThat(new ReadFileTool(root).execute(path("alias.txt"), CONTEXT)).isEqualTo("hello from the root");
    }

    @Test
    void shouldCapTheSizeAndSayHowMuchWasCut() throws Exception {
        Files.writeString(root.resolve("big.txt"), "y".repeat(100_000));
        ReadFileTool tool = new ReadFileTool(root);

        String text = tool.execute(path("big.txt"), CONTEXT);

        assertThat(text)
                .startsWith("y".repeat(ReadFileTool.DEFAULT_MAX_BYTES) + "\n")
                .endsWith("[read_file: showed the first 65536 of 100000 bytes; 34464 bytes cut]");
    }

    @Test
    void shouldNotSplitAMultiByteCharacterAtTheCap() throws Exception {
        Files.writeString(root.resolve("accents.txt"), "é".repeat(10), StandardCharsets.UTF_8); // 2 bytes each
        ReadFileTool tool = new ReadFileTool(root, 5);

        assertThat(tool.execute(path("accents.txt"), CONTEXT))
                .isEqualTo("éé\n[read_file: showed the first 4 of 20 bytes; 16 bytes cut]");
    }

    @Test
    void shouldRefuseEveryCallWithoutARoot() {
        ReadFileTool tool = new ReadFileTool((Path) null);

        assertThatThrownBy(() -> tool.execute(path("notes.txt"), CONTEXT))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("read_file has no root directory configured")
                .hasMessageContaining(ReadFileTool.ROOT_PROPERTY);
    }

    @Test
    void shouldTakeRootAndCapFromOptions() throws Exception {
        ReadFileTool tool = new ReadFileTool((Path) null);

        tool.configure(Map.of("root", root.toString(), "max.bytes", "5"));

        assertThat(tool.execute(path("notes.txt"), CONTEXT)).startsWith("hello\n[read_file: showed the first 5 of 19");
        assertThatThrownBy(() -> tool.configure(Map.of("max.bytes", "0"))).hasMessageContaining("at least 1");
    }

    @Test
    void shouldRefuseMissingFilesDirectoriesAndNonUtf8() throws Exception {
        Files.write(root.resolve("binary.bin"), new byte[] {(byte) 0xC3, (byte) 0x28, 0x00});
        ReadFileTool tool = new ReadFileTool(root);

        assertThatThrownBy(() -> tool.execute(path("missing.txt"), CONTEXT))
                .hasMessage("read_file: no file 'missing.txt' under the root directory");
        assertThatThrownBy(() -> tool.execute(path("docs"), CONTEXT))
                .hasMessage("read_file: 'docs' is not a regular file");
        assertThatThrownBy(() -> tool.execute(path("binary.bin"), CONTEXT))
                .hasMessage("read_file: 'binary.bin' is not a UTF-8 text file");
        assertThatThrownBy(() -> tool.execute(JSON.createObjectNode(), CONTEXT))
                .hasMessage("read_file needs a non-empty string argument 'path'");
    }
}
