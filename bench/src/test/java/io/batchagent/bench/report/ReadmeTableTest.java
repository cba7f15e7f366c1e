package io.batchagent.bench.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReadmeTableTest {

    @Test
    void shouldReplaceOnlyTheResultsSection() {
        String readme = "# Title\n\nintro\n\n## Results\n\nold table\n\n## Later\n\nkept\n";
        String updated = ReadmeTable.replaceSection(readme, "new body\n");
        assertThat(updated).isEqualTo("# Title\n\nintro\n\n## Results\n\nnew body\n\n## Later\n\nkept\n");
    }

    @Test
    void shouldReplaceAResultsSectionAtTheEnd() {
        String updated = ReadmeTable.replaceSection("# T\n\n## Results\n\nold\n", "new\n");
        assertThat(updated).isEqualTo("# T\n\n## Results\n\nnew\n");
    }

    @Test
    void shouldRefuseAReadmeWithoutResults() {
        assertThatThrownBy(() -> ReadmeTable.replaceSection("# T\n", "x")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void shouldBuildRowsAndTargetsFromResultsFiles(@TempDir Path dir) throws Exception {
        // Given a results file as a driver writes it
        Report report = new Report("w4-dedup", "bench/run w4", "none", "no engine", false);
        report.readmeRow("W4 dedup", "10 executions", "10 executions (100x)");
        report.target("executions", "10", "10", true, "note");
        report.write(dir.resolve("w4-dedup"), "body\n", null);
        Path readme = dir.resolve("README.md");
        Files.writeString(readme, "# T\n\n## Results\n\nold\n", StandardCharsets.UTF_8);
        // When
        ReadmeTable.rewrite(readme, dir);
        // Then
        String text = Files.readString(readme, StandardCharsets.UTF_8);
        assertThat(text)
                .contains("| W4 dedup | no engine | 10 executions | 10 executions (100x) | `bench/run w4` |")
                .contains("- w4-dedup, executions (10): 10: met.")
                .doesNotContain("old");
    }
}
