package io.batchagent.bench.engine;

import io.batchagent.inference.EngineEndpoint;
import io.batchagent.simulator.EngineProfile;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.simulator.SimulatorStats;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;

/**
 * The engine a benchmark runs against: the in-process simulator for {@code sim://<profile>}, or a real
 * server ({@code sglang://host:port}, {@code vllm://host:port}, {@code dynamo://host:port},
 * {@code openai-compatible://host:port}, or an {@code http(s)://} base URL). Knows how to flush the
 * engine's prefix cache where the engine offers a way, and describes itself for the results.
 */
public final class EngineTarget implements AutoCloseable {

    /** The kind of engine behind the URL. */
    public enum Kind {
        SIM,
        SGLANG,
        VLLM,
        DYNAMO,
        OPENAI_COMPATIBLE
    }

    private final String url;
    private final Kind kind;
    private final URI httpBase;
    private final EngineSimulator simulator;
    private final double speedup;
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    private EngineTarget(String url, Kind kind, URI httpBase, EngineSimulator simulator, double speedup) {
        this.url = url;
        this.kind = kind;
        this.httpBase = httpBase;
        this.simulator = simulator;
        this.speedup = speedup;
    }

    /**
     * Opens {@code url}. For {@code sim://<profile>} a simulator is started in this JVM with the
     * given speedup and scripted tool-call rule (both ignored for a real engine).
     */
    public static EngineTarget open(String url, double speedup, String simToolRule) {
        String lower = url.toLowerCase(Locale.ROOT);
        if (lower.startsWith("sim://")) {
            String profile = url.substring("sim://".length());
            SimulatorOptions.Builder options = SimulatorOptions.builder()
                    .profile(profile.isBlank() ? EngineProfile.H100_QWEN32B : EngineProfile.named(profile))
                    .speedup(speedup);
            if (simToolRule != null) {
                options.toolCallRule(simToolRule);
            }
            EngineSimulator simulator = EngineSimulator.start(options.build());
            return new EngineTarget(url, Kind.SIM, URI.create(simulator.baseUrl()), simulator, speedup);
        }
        if (lower.startsWith("dynamo://")) {
            URI uri = URI.create(url);
            return new EngineTarget(url, Kind.DYNAMO, URI.create("http://" + uri.getRawAuthority()), null, 1);
        }
        EngineEndpoint endpoint = EngineEndpoint.parse(url);
        Kind kind = switch (endpoint.kind().scheme()) {
            case "sglang" -> Kind.SGLANG;
            case "vllm" -> Kind.VLLM;
            default -> Kind.OPENAI_COMPATIBLE;
        };
        return new EngineTarget(url, kind, endpoint.baseUri(), null, 1);
    }

    public String url() {
        return url;
    }

    public Kind kind() {
        return kind;
    }

    /** True for the simulator: its timings and token counts are SIMULATED. */
    public boolean simulated() {
        return simulator != null;
    }

    public double speedup() {
        return speedup;
    }

    /** The engine's http base URL (for the recording proxy to forward to). */
    public URI httpBase() {
        return httpBase;
    }

    /** The profile's name for the simulator, else null. */
    public String profile() {
        return simulator == null ? null : simulator.options().profile().name();
    }

    /** One line for the results: which engine, and whether its figures are simulated. */
    public String describe() {
        if (simulator != null) {
            return "engine simulator, profile " + profile() + (speedup == 1 ? "" : ", speedup " + speedup)
                    + " (SIMULATED)";
        }
        return kind.name().toLowerCase(Locale.ROOT).replace('_', '-') + " at " + httpBase + " (real engine)";
    }

    /**
     * The URL to give the pipeline for an engine reached through a local proxy on {@code port}: the
     * same scheme as this engine's, so that engine-specific request fields stay on.
     */
    public String urlThrough(int port) {
        String scheme = switch (kind) {
            case SGLANG -> "sglang";
            case VLLM -> "vllm";
            case DYNAMO -> "dynamo";
            default -> "openai-compatible";
        };
        String candidate = scheme + "://127.0.0.1:" + port;
        try {
            EngineEndpoint.parse(candidate);
            return candidate;
        } catch (IllegalArgumentException notKnownYet) {
            return "http://127.0.0.1:" + port; // e.g. dynamo:// before the engine dialects land
        }
    }

    /**
     * Empties the engine's prefix cache: the simulator's flush, SGLang's {@code POST /flush_cache},
     * vLLM's {@code POST /reset_prefix_cache} (needs the server's dev mode).
     *
     * @return what was done, for the results ("not possible" for engines without a flush)
     */
    public String flush() {
        if (simulator != null) {
            return "simulator flushCache(): " + simulator.flushCache() + " tokens evicted";
        }
        String path = switch (kind) {
            case SGLANG -> "/flush_cache";
            case VLLM -> "/reset_prefix_cache";
            default -> null;
        };
        if (path == null) {
            return "not possible: " + kind + " offers no cache flush, so conditions may inherit a warm cache";
        }
        try {
            HttpResponse<String> answer = http.send(
                    HttpRequest.newBuilder(httpBase.resolve(path))
                            .POST(HttpRequest.BodyPublishers.noBody())
                            .timeout(Duration.ofSeconds(60))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            if (answer.statusCode() / 100 != 2) {
                throw new IllegalStateException(
                        "POST " + path + " answered HTTP " + answer.statusCode() + ": " + answer.body());
            }
            return "POST " + path + ": HTTP " + answer.statusCode();
        } catch (IOException e) {
            throw new IllegalStateException("cannot flush the engine cache at " + httpBase + path + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while flushing the engine cache", e);
        }
    }

    /**
     * The sum of every sample of a Prometheus metric on the engine's {@code /metrics} (all label
     * sets), or NaN when the engine does not expose it.
     */
    public double metric(String name) {
        try {
            HttpResponse<String> answer = http.send(
                    HttpRequest.newBuilder(httpBase.resolve("/metrics"))
                            .timeout(Duration.ofSeconds(10))
                            .GET()
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            if (answer.statusCode() != 200) {
                return Double.NaN;
            }
            double sum = 0;
            boolean found = false;
            for (String line : answer.body().split("\n")) {
                if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
                    String[] parts = line.trim().split("\\s+");
                    sum += Double.parseDouble(parts[parts.length - 1]);
                    found = true;
                }
            }
            return found ? sum : Double.NaN;
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Double.NaN;
        }
    }

    /** The simulator's counters (SIMULATED), or empty for a real engine. */
    public Optional<SimulatorStats> simulatorStats() {
        return simulator == null ? Optional.empty() : Optional.of(simulator.stats());
    }

    /**
     * Sets the simulator's SIMULATED faults ({@link io.batchagent.simulator.EngineFaults#parse} form, e.g.
     * {@code down=true}); a real engine cannot be told to fail.
     */
    public void setFaults(String spec) {
        if (simulator == null) {
            throw new IllegalStateException("faults can be injected into the simulator only, not into " + url);
        }
        simulator.setFaults(io.batchagent.simulator.EngineFaults.parse(spec, simulator.faults()));
    }

    public void resetStats() {
        if (simulator != null) {
            simulator.resetStats();
        }
    }

    @Override
    public void close() {
        if (simulator != null) {
            simulator.close();
        }
    }
}
