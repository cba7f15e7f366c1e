package io.batchagent.simulator;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * SIMULATED engine faults: what share of chat-completion requests the simulator answers badly, and
 * how. Each request draws at most one fault, in this order: outage, server error, throttling,
 * malformed stream, hang. The draws come from a seeded generator, so a run's fault sequence is
 * reproducible for the same request order.
 *
 * @param down every request is answered HTTP 503 ("simulated outage"), as an engine that is restarting
 * @param errorRate share of requests answered HTTP 500, 502 or 503 (in turn) before any work
 * @param throttleRate share answered HTTP 429 with a {@code Retry-After} header of {@code retryAfterSeconds}
 * @param retryAfterSeconds the {@code Retry-After} value of a throttled answer, at least 0
 * @param malformedRate share answered 200 with a broken body: an SSE frame that is not JSON and no
 *     {@code [DONE]} when streaming, truncated JSON otherwise
 * @param hangRate share held for {@code hangMillis} before they are served normally (the client has
 *     usually given up by then)
 * @param hangMillis how long a hung request waits
 * @param seed seeds the draws
 */
public record EngineFaults(
        boolean down,
        double errorRate,
        double throttleRate,
        int retryAfterSeconds,
        double malformedRate,
        double hangRate,
        long hangMillis,
        long seed) {

    /** No faults. */
    public static final EngineFaults NONE = new EngineFaults(false, 0, 0, 1, 0, 0, 0, 1);

    /** What a drawn request gets. */
    public enum Fault {
        NONE,
        OUTAGE,
        SERVER_ERROR,
        THROTTLE,
        MALFORMED,
        HANG
    }

    public EngineFaults {
        checkRate("error", errorRate);
        checkRate("throttle", throttleRate);
        checkRate("malformed", malformedRate);
        checkRate("hang", hangRate);
        if (errorRate + throttleRate + malformedRate + hangRate > 1.0 + 1e-9) {
            throw new IllegalArgumentException("fault rates add up to more than 1: error " + errorRate + ", throttle "
                    + throttleRate + ", malformed " + malformedRate + ", hang " + hangRate);
        }
        if (retryAfterSeconds < 0 || hangMillis < 0) {
            throw new IllegalArgumentException("retry-after and hang-ms must not be negative");
        }
    }

    /** Whether any fault can be drawn. */
    public boolean any() {
        return down || errorRate > 0 || throttleRate > 0 || malformedRate > 0 || hangRate > 0;
    }

    /** The fault for a request whose uniform draw in [0, 1) is {@code draw}. */
    public Fault fault(double draw) {
        if (down) {
            return Fault.OUTAGE;
        }
        double edge = errorRate;
        if (draw < edge) {
            return Fault.SERVER_ERROR;
        }
        edge += throttleRate;
        if (draw < edge) {
            return Fault.THROTTLE;
        }
        edge += malformedRate;
        if (draw < edge) {
            return Fault.MALFORMED;
        }
        edge += hangRate;
        return draw < edge ? Fault.HANG : Fault.NONE;
    }

    /**
     * Parses the command-line and admin form: comma-separated {@code key=value} pairs out of
     * {@code down, error, throttle, retry-after, malformed, hang, hang-ms, seed}; keys left out keep
     * the values of {@code base}. For example {@code error=0.2,throttle=0.03,retry-after=1,hang=0.05,hang-ms=30000}.
     *
     * @throws IllegalArgumentException naming the unknown key or the value that does not parse
     */
    public static EngineFaults parse(String spec, EngineFaults base) {
        Map<String, String> values = new LinkedHashMap<>();
        for (String part : spec.split(",")) {
            if (part.isBlank()) {
                continue;
            }
            int eq = part.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("fault setting '" + part.trim() + "' is not key=value");
            }
            values.put(
                    part.substring(0, eq).trim().toLowerCase(Locale.ROOT),
                    part.substring(eq + 1).trim());
        }
        boolean down = base.down;
        double error = base.errorRate;
        double throttle = base.throttleRate;
        int retryAfter = base.retryAfterSeconds;
        double malformed = base.malformedRate;
        double hang = base.hangRate;
        long hangMs = base.hangMillis;
        long seed = base.seed;
        for (Map.Entry<String, String> e : values.entrySet()) {
            String v = e.getValue();
            try {
                switch (e.getKey()) {
                    case "down" -> down = Boolean.parseBoolean(v);
                    case "error" -> error = Double.parseDouble(v);
                    case "throttle" -> throttle = Double.parseDouble(v);
                    case "retry-after" -> retryAfter = Integer.parseInt(v);
                    case "malformed" -> malformed = Double.parseDouble(v);
                    case "hang" -> hang = Double.parseDouble(v);
                    case "hang-ms" -> hangMs = Long.parseLong(v);
                    case "seed" -> seed = Long.parseLong(v);
                    default ->
                        throw new IllegalArgumentException("unknown fault setting '" + e.getKey()
                                + "' (known: down, error, throttle, retry-after, malformed, hang, hang-ms, seed)");
                }
            } catch (NumberFormatException ex) {
                throw new IllegalArgumentException("fault setting " + e.getKey() + "=" + v + " is not a number", ex);
            }
        }
        return new EngineFaults(down, error, throttle, retryAfter, malformed, hang, hangMs, seed);
    }

    /** The {@link #parse} form of these faults. */
    public String spec() {
        return "down=" + down + ",error=" + errorRate + ",throttle=" + throttleRate + ",retry-after="
                + retryAfterSeconds + ",malformed=" + malformedRate + ",hang=" + hangRate + ",hang-ms=" + hangMillis
                + ",seed=" + seed;
    }

    private static void checkRate(String name, double rate) {
        if (!(rate >= 0 && rate <= 1)) {
            throw new IllegalArgumentException(name + " rate must be in [0, 1], was " + rate);
        }
    }
}
