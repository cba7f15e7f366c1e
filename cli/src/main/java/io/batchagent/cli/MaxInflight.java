package io.batchagent.cli;

import io.batchagent.inference.FlowControl;
import java.util.Locale;

/**
 * The {@code --max-inflight} value: {@code N} is the ceiling of an adaptive in-flight limit (the worker finds
 * the right number under it from the engine's own signals), {@code fixed:N} keeps exactly N in flight.
 *
 * @param ceiling model calls in flight at most, at least 1
 * @param fixed whether the limit stays at the ceiling instead of adapting
 */
record MaxInflight(int ceiling, boolean fixed) {

    MaxInflight {
        if (ceiling < 1) {
            throw new IllegalArgumentException("--max-inflight must be at least 1, got " + ceiling);
        }
    }

    /** Parses {@code N} or {@code fixed:N}; the message of a bad value says what is accepted. */
    static MaxInflight parse(String value) {
        String v = value.strip().toLowerCase(Locale.ROOT);
        boolean fixed = v.startsWith("fixed:");
        try {
            return new MaxInflight(Integer.parseInt(fixed ? v.substring("fixed:".length()) : v), fixed);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    "--max-inflight takes N (the ceiling of an adaptive limit) or fixed:N, got '" + value + "'");
        }
    }

    /** {@code flow} with its adaptive setting taken from this value. */
    FlowControl applyTo(FlowControl flow) {
        return flow.withAdaptive(!fixed);
    }
}
