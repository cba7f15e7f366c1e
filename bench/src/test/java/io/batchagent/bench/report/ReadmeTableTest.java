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
        new Report.Start(java.time.Instant.EPOCH, 1, System.nanoTime(), "abc1234").applyTo(report);
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
                .contains("| W4 dedup | no engine | 10 executions | 10 executions (100x) | `bench/run w4` @ abc1234 |")
                .contains("Every figure comes from commit abc1234.")
                .contains("- w4-dedup, executions (10): 10: met.")
                .doesNotContain("old");
    }

    @Test
    void shouldSayWhenFiguresComeFromDifferentCommits(@TempDir Path dir) throws Exception {
        // Given two workloads' results from two commits
        for (String[] w : new String[][] {{"w1-research", "aaa1111"}, {"w4-dedup", "bbb2222"}}) {
            Report report = new Report(w[0], "bench/run x", "none", "no engine", false);
            new Report.Start(java.time.Instant.EPOCH, 1, System.nanoTime(), w[1]).applyTo(report);
            report.write(dir.resolve(w[0]), "body\n", null);
        }
        // When / Then
        assertThat(ReadmeTable.section(dir))
                .contains("The figures come from different commits: aaa1111 (w1-research); bbb2222 (w4-dedup)");
    }

    @Test
    void shouldNameTheCoresAndTheLoadTheRunsStartedAt(@TempDir Path dir) throws Exception {
        // Given two workloads' results, started at load averages 1.0 and 3.5
        for (Object[] w : new Object[][] {{"w1-research", 1.0}, {"w4-dedup", 3.5}}) {
            Report report = new Report((String) w[0], "bench/run x", "none", "no engine", false);
            new Report.Start(java.time.Instant.EPOCH, (Double) w[1], System.nanoTime(), "abc1234").applyTo(report);
            report.write(dir.resolve((String) w[0]), "body\n", null);
        }
        // When / Then: the machine is described from the files, not from a fixed sentence
        int cores = Runtime.getRuntime().availableProcessors();
        assertThat(ReadmeTable.section(dir))
                .contains("shared " + cores + " cores (load average 1.0-3.5 at the runs' start)")
                .doesNotContain("other builds");
    }
}
