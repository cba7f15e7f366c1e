package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class PromQlTest {

    @Test
    void shouldNameOnlyMetricsWhenAQueryAggregatesFiltersAndDivides() {
        assertThat(
                        PromQl.metricNames(
                                "histogram_quantile(0.95, sum by (le, tool) (rate(batchagent_model_ttft_seconds_bucket{job=\"x\", le!=\"+Inf\"}[5m])))"))
                .containsExactly("batchagent_model_ttft_seconds_bucket");
        assertThat(PromQl.metricNames("sum(rate(a_total[5m])) / sum without (instance) (rate(b_total[5m])) > bool 0"))
                .containsExactly("a_total", "b_total");
        assertThat(PromQl.metricNames("max by (tool) (batchagent_tool_latency_seconds{quantile=\"0.95\"}) offset 5m"))
                .containsExactly("batchagent_tool_latency_seconds");
    }
}
