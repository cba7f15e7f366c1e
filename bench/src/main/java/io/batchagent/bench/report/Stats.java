package io.batchagent.bench.report;

import java.util.Arrays;
import java.util.Collection;

/**
 * Summary statistics of a sample. Percentiles use the nearest-rank method (the smallest value with
 * at least p% of the sample at or below it), so every reported percentile is an observed value.
 *
 * @param count sample size
 * @param min smallest value, NaN when empty
 * @param p50 median by nearest rank
 * @param p95 95th percentile by nearest rank
 * @param p99 99th percentile by nearest rank
 * @param max largest value
 * @param mean arithmetic mean
 */
public record Stats(int count, double min, double p50, double p95, double p99, double max, double mean) {

    public static final Stats EMPTY =
            new Stats(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN);

    public static Stats of(Collection<? extends Number> values) {
        return of(values.stream().mapToDouble(Number::doubleValue).toArray());
    }

    public static Stats of(double[] values) {
        if (values.length == 0) {
            return EMPTY;
        }
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        double sum = 0;
        for (double v : sorted) {
            sum += v;
        }
        return new Stats(
                sorted.length,
                sorted[0],
                percentile(sorted, 50),
                percentile(sorted, 95),
                percentile(sorted, 99),
                sorted[sorted.length - 1],
                sum / sorted.length);
    }

    /** Nearest-rank percentile of an ascending array; {@code p} in (0, 100]. */
    public static double percentile(double[] sorted, double p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        if (!(p > 0 && p <= 100)) {
            throw new IllegalArgumentException("percentile must be in (0, 100], got " + p);
        }
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length, rank) - 1)];
    }

    /** Median of a few values (e.g. repetitions): the mean of the middle two for an even count. */
    public static double median(double... values) {
        if (values.length == 0) {
            return Double.NaN;
        }
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int mid = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
