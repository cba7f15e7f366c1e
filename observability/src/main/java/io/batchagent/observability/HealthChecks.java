package io.batchagent.observability;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * The named checks behind a process's {@code /health} (liveness) and {@code /ready} (readiness).
 *
 * <p>Liveness fails only when the process cannot recover by itself (a Streams app in ERROR, a consumer
 * loop that died), so that an orchestrator restarts it. Readiness fails while the process cannot do its
 * work yet or now (broker unreachable, no partition assignment yet, engine unreachable), so that it gets
 * no traffic and a rollout waits for it. A process is live and ready when every check of that kind passes;
 * with no checks it is both.
 *
 * <p>Checks must answer at once from state kept up to date elsewhere (a probe has about a second): a check
 * that needs the network reads the outcome of a look made in the background, as {@link BrokerCheck} does.
 * Thread-safe.
 */
public final class HealthChecks {

    /**
     * One check's answer.
     *
     * @param ok whether the check passes
     * @param detail what was seen, for the operator
     */
    public record Status(boolean ok, String detail) {
        public Status {
            Objects.requireNonNull(detail, "detail");
        }

        public static Status ok(String detail) {
            return new Status(true, detail);
        }

        public static Status failing(String detail) {
            return new Status(false, detail);
        }
    }

    /**
     * Every check's answer at one moment.
     *
     * @param ok whether all passed
     */
    public record Report(boolean ok, Map<String, Status> checks) {}

    private final Map<String, Supplier<Status>> liveness = new LinkedHashMap<>();
    private final Map<String, Supplier<Status>> readiness = new LinkedHashMap<>();

    /** Adds a liveness check; a failing one makes {@code /health} answer 503. */
    public synchronized HealthChecks addLiveness(String name, Supplier<Status> check) {
        liveness.put(Objects.requireNonNull(name, "name"), Objects.requireNonNull(check, "check"));
        return this;
    }

    /** Adds a readiness check; a failing one makes {@code /ready} answer 503. */
    public synchronized HealthChecks addReadiness(String name, Supplier<Status> check) {
        readiness.put(Objects.requireNonNull(name, "name"), Objects.requireNonNull(check, "check"));
        return this;
    }

    /** The liveness checks' answers. */
    public Report liveness() {
        return report(snapshot(liveness));
    }

    /** The readiness checks' answers; a process that is not live is not ready either. */
    public Report readiness() {
        Map<String, Supplier<Status>> all = snapshot(liveness);
        all.putAll(snapshot(readiness));
        return report(all);
    }

    /** Publishes {@code batchagent_ready} (1 when ready, else 0) to {@code registry}. */
    public HealthChecks bindTo(MeterRegistry registry) {
        Gauge.builder("batchagent.ready", this, checks -> checks.readiness().ok() ? 1 : 0)
                .description("1 when every readiness check of this process passes, else 0")
                .register(registry);
        return this;
    }

    private synchronized Map<String, Supplier<Status>> snapshot(Map<String, Supplier<Status>> checks) {
        return new LinkedHashMap<>(checks);
    }

    private static Report report(Map<String, Supplier<Status>> checks) {
        Map<String, Status> answers = new LinkedHashMap<>();
        boolean ok = true;
        for (Map.Entry<String, Supplier<Status>> check : checks.entrySet()) {
            Status status;
            try {
                status = check.getValue().get();
            } catch (RuntimeException e) {
                status = Status.failing("check failed: " + e);
            }
            answers.put(check.getKey(), status);
            ok &= status.ok();
        }
        return new Report(ok, answers);
    }
}
