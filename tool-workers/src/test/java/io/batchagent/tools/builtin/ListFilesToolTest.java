package io.batchagent.tools.builtin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.tools.ToolContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ListFilesToolTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ToolContext CONTEXT =
            new ToolContext("hash", "batch", Instant.now().plusSeconds(30));

    @TempDir
    Path temp;

    private Path root;

    @BeforeEach
    void files() throws Exception {
        root = Files.createDirectories(temp.resolve("root"));
        Files.writeString(root.resolve("b.txt"), "12345");
        Files.createDirectories(root.resolve("a/deeper"));
        Files.writeString(root.resolve("a/one.md"), "x");
        Files.writeString(root.resolve("a/deeper/two.md"), "xy");
        Files.createDirectories(temp.resolve("outside"));
        Files.writeString(temp.resolve("outside/secret.txt"), "secret");
        Files.createSymbolicLink(root.resolve("link"), temp.resolve("outside"));
    }

    private String list(ListFilesTool tool, ObjectNode arguments) throws Exception {
        return tool.execute(arguments, CONTEXT);
    }

    @Test
    void shouldListTheRootSortedWithSizesAndLinksNotFollowed() throws Exception {
        assertThat(list(new ListFilesTool(root), JSON.createObjectNode()))
                .isEqualTo("./\na/\nb.txt (5 bytes)\nlink (symbolic link)\n");
    }

    @Test
    void shouldWalkSubdirectoriesWhenAskedWithoutFollowingLinksOut() throws Exception {
        String listing = list(new ListFilesTool(root), JSON.createObjectNode().put("recursive", true));

        assertThat(listing)
                .contains("a/deeper/two.md (2 bytes)", "a/one.md (1 bytes)", "link (symbolic link)")
                .doesNotContain("secret");
    }

    @Test
    void shouldListASubdirectoryAndCapTheEntriesSayingHowManyWereLeftOut() throws Exception {
        assertThat(list(new ListFilesTool(root), JSON.createObjectNode().put("path", "a")))
                .isEqualTo("a/\na/deeper/\na/one.md (1 bytes)\n");
        assertThat(list(
                        new ListFilesTool(root),
                        JSON.createObjectNode().put("recursive", true).put("max_entries", 2)))
                .endsWith("[list_files: showed 2 of 6 entries; 4 left out]\n");
    }

    @Test
    void shouldRefuseWithoutARootAndForFiles() {
        assertThatThrownBy(() -> list(new ListFilesTool((Path) null), JSON.createObjectNode()))
                .hasMessageContaining("list_files has no root directory configured");
        assertThatThrownBy(() ->
                        list(new ListFilesTool(root), JSON.createObjectNode().put("path", "b.txt")))
                .hasMessage("list_files: 'b.txt' is not a directory");
    }

    @Test
    void shouldTakeRootAndCapFromOptions() throws Exception {
        ListFilesTool tool = new ListFilesTool((Path) null);
        tool.configure(Map.of("root", root.resolve("a").toString(), "max.entries", "1"));

        assertThat(list(tool, JSON.createObjectNode())).startsWith("./\ndeeper/\n[list_files: showed 1 of 2");
        assertThatThrownBy(() -> list(tool, JSON.createObjectNode().put("max_entries", 5)))
                .hasMessageContaining("'max_entries' must be an integer from 1 to 1");
    }
}
