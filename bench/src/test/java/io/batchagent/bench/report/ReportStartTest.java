package io.batchagent.bench.report;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A report built at a driver's end describes the run from the driver's start. */
class ReportStartTest {

    @TempDir
    Path dir;

    @Test
    void shouldRecordTheStartTheDriverTookNotTheReportsOwn() throws Exception {
        // Given a start read five seconds (of the monotonic clock) before the report is built
        Report.Start start = new Report.Start(
                Instant.parse("2026-01-02T03:04:05Z"), 1.25, System.nanoTime() - 5_000_000_000L, "abc1234");
        Report report = new Report("w0", "bench/run w0", "sim://x", "sim", true);

        // When the driver applies it and writes the report
        start.applyTo(report);
        JsonNode json = Json.MAPPER.readTree(Files.readString(report.write(dir, "", null)));

        // Then start time, load, commit and driver time are the start's
        assertThat(json.path("started_at").asText()).isEqualTo("2026-01-02T03:04:05Z");
        assertThat(json.path("machine").path("load_average_at_start").asDouble())
                .isEqualTo(1.25);
        assertThat(json.path("machine").path("git_commit").asText()).isEqualTo("abc1234");
        assertThat(json.path("driver_seconds").asDouble()).isGreaterThanOrEqualTo(5.0);
        assertThat(Files.readString(dir.resolve("results.md")))
                .contains("load average 1.25 at start")
                .contains("Started: 2026-01-02T03:04:05Z, commit abc1234");
    }
}
