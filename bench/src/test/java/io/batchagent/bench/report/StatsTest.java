package io.batchagent.bench.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class StatsTest {

    @Test
    void shouldTakePercentilesByNearestRank() {
        // Given 1..100
        double[] values = new double[100];
        for (int i = 0; i < 100; i++) {
            values[i] = 100 - i;
        }
        // When
        Stats stats = Stats.of(values);
        // Then
        assertThat(stats.count()).isEqualTo(100);
        assertThat(stats.p50()).isEqualTo(50);
        assertThat(stats.p95()).isEqualTo(95);
        assertThat(stats.p99()).isEqualTo(99);
        assertThat(stats.min()).isEqualTo(1);
        assertThat(stats.max()).isEqualTo(100);
        assertThat(stats.mean()).isEqualTo(50.5);
    }

    @Test
    void shouldReportObservedValuesForSmallSamples() {
        Stats stats = Stats.of(List.of(3, 1, 2));
        assertThat(stats.p50()).isEqualTo(2);
        assertThat(stats.p95()).isEqualTo(3);
        assertThat(stats.p99()).isEqualTo(3);
    }

    @Test
    void shouldBeEmptyWithoutValues() {
        assertThat(Stats.of(List.of())).isEqualTo(Stats.EMPTY);
        assertThat(Stats.EMPTY.p50()).isNaN();
    }

    @Test
    void shouldTakeTheMeanOfTheMiddleTwoForAnEvenMedian() {
        assertThat(Stats.median(4, 1, 3, 2)).isEqualTo(2.5);
        assertThat(Stats.median(5, 1, 3)).isEqualTo(3);
        assertThat(Stats.median()).isNaN();
    }

    @Test
    void shouldRefusePercentilesOutsideTheRange() {
        assertThatThrownBy(() -> Stats.percentile(new double[] {1}, 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
