package io.batchagent.tools;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.ToolStatus;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ToolMetricsTest {

    @Test
    void shouldKeepFiguresPerToolAndExportThemForPrometheus() {
        ToolMetrics metrics = new ToolMetrics();
        for (int i = 1; i <= 20; i++) {
            metrics.call("search");
            metrics.executed("search", Duration.ofMillis(i * 10L), 0);
        }
        metrics.call("search");
        metrics.cacheHit("search");
        metrics.error("search", ToolStatus.TIMEOUT);
        metrics.call("lookup");
        metrics.executed("lookup", Duration.ofMillis(5), 30);
        metrics.cacheBypassed("lookup");

        ToolMetrics.ToolStats search = metrics.snapshot().get("search");
        assertThat(search.calls()).isEqualTo(21);
        assertThat(search.executions()).isEqualTo(20);
        assertThat(search.cacheHits()).isEqualTo(1);
        assertThat(search.errors()).isEqualTo(1);
        assertThat(search.latencyP50Ms()).isBetween(90.0, 115.0);
        assertThat(search.latencyP95Ms()).isBetween(180.0, 215.0);
        assertThat(metrics.snapshot().get("lookup").cacheBypassed()).isEqualTo(1);
        assertThat(metrics.scrape())
                .contains("batchagent_tool_calls_total{tool=\"search\"} 21.0")
                .contains("batchagent_tool_executions_total{tool=\"lookup\"} 1.0")
                .contains("batchagent_tool_batched_calls_total{tool=\"lookup\"} 30.0")
                .contains("batchagent_tool_errors_total{status=\"timeout\",tool=\"search\"} 1.0")
                .contains("batchagent_tool_latency_seconds{tool=\"search\",quantile=\"0.95\"}");
    }
}
