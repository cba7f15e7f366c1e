package io.batchagent.observability;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP endpoints every role serves to operators, on its {@code --metrics-port}:
 *
 * <ul>
 *   <li>{@code GET /metrics}: every meter of the process's registry in the Prometheus text format;
 *   <li>{@code GET /health}: liveness, 200 or 503, with each check's answer as JSON;
 *   <li>{@code GET /ready}: readiness, 200 or 503, likewise.
 * </ul>
 *
 * Other paths answer 404, other methods 405. It serves from one small thread pool of its own, so a slow
 * scrape never holds up a stage. {@link #close()} stops it at once.
 */
public final class OpsServer implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(OpsServer.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

    private final HttpServer server;
    private final ExecutorService executor;

    private OpsServer(HttpServer server, ExecutorService executor) {
        this.server = server;
        this.executor = executor;
    }

    /**
     * Starts serving on {@code address} (port 0: a free one).
     *
     * @throws UncheckedIOException if the address cannot be bound (e.g. the port is taken)
     */
    public static OpsServer start(InetSocketAddress address, PrometheusMeterRegistry registry, HealthChecks checks) {
        Objects.requireNonNull(registry, "registry");
        Objects.requireNonNull(checks, "checks");
        HttpServer server;
        try {
            server = HttpServer.create(address, 16);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serve metrics and health on " + address + ": " + e.getMessage(), e);
        }
        ExecutorService executor = Executors.newFixedThreadPool(2, runnable -> {
            Thread thread = new Thread(runnable, "batchagent-ops-http");
            thread.setDaemon(true);
            return thread;
        });
        server.setExecutor(executor);
        server.createContext(
                "/",
                exchange -> handle(
                        exchange,
                        Map.of(
                                "/metrics", () -> new Reply(200, PROMETHEUS_TEXT, registry.scrape()),
                                "/health", () -> json(checks.liveness()),
                                "/ready", () -> json(checks.readiness()))));
        server.start();
        OpsServer ops = new OpsServer(server, executor);
        LOGGER.info("serving /metrics, /health and /ready on port {}", ops.port());
        return ops;
    }

    /** The port it listens on. */
    public int port() {
        return server.getAddress().getPort();
    }

    private record Reply(int status, String contentType, String body) {}

    private static void handle(HttpExchange exchange, Map<String, Supplier<Reply>> routes) throws IOException {
        try (exchange) {
            Supplier<Reply> route = routes.get(exchange.getRequestURI().getPath());
            Reply reply;
            if (route == null) {
                reply = new Reply(404, "text/plain; charset=utf-8", "not found; try /metrics, /health or /ready\n");
            } else if (!exchange.getRequestMethod().equals("GET")
                    && !exchange.getRequestMethod().equals("HEAD")) {
                reply = new Reply(405, "text/plain; charset=utf-8", "only GET\n");
            } else {
                reply = answer(route);
            }
            byte[] body = reply.body().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", reply.contentType());
            boolean head = exchange.getRequestMethod().equals("HEAD");
            exchange.sendResponseHeaders(reply.status(), head ? -1 : body.length);
            if (!head) {
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
        }
    }

    private static Reply answer(Supplier<Reply> route) {
        try {
            return route.get();
        } catch (RuntimeException e) {
            LOGGER.warn("ops endpoint failed", e);
            return new Reply(500, "text/plain; charset=utf-8", "failed: " + e + "\n");
        }
    }

    private static Reply json(HealthChecks.Report report) {
        ObjectNode root = JSON.createObjectNode();
        root.put("status", report.ok() ? "UP" : "DOWN");
        ObjectNode checks = root.putObject("checks");
        report.checks()
                .forEach((name, status) ->
                        checks.putObject(name).put("ok", status.ok()).put("detail", status.detail()));
        return new Reply(report.ok() ? 200 : 503, "application/json", root.toString() + "\n");
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
