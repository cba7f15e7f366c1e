package io.batchagent.observability;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Counter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class OpsServerTest {

    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private static HttpResponse<String> get(OpsServer server, String path) throws Exception {
        return HTTP.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void shouldAnswerNotReadyWithTheFailingCheckUntilItPassesWhileStayingLive() throws Exception {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        AtomicBoolean assigned = new AtomicBoolean();
        HealthChecks checks = new HealthChecks()
                .addLiveness("loop", () -> HealthChecks.Status.ok("running"))
                .addReadiness(
                        "assignment",
                        () -> assigned.get()
                                ? HealthChecks.Status.ok("assigned")
                                : HealthChecks.Status.failing("no assignment yet"))
                .bindTo(registry);
        try (OpsServer server = OpsServer.start(new InetSocketAddress("127.0.0.1", 0), registry, checks)) {
            HttpResponse<String> ready = get(server, "/ready");
            assertThat(ready.statusCode()).isEqualTo(503);
            assertThat(ready.body()).contains("\"status\":\"DOWN\"").contains("no assignment yet");
            assertThat(get(server, "/health").statusCode()).isEqualTo(200);
            assertThat(get(server, "/metrics").body()).contains("batchagent_ready 0.0");

            assigned.set(true);

            assertThat(get(server, "/ready").statusCode()).isEqualTo(200);
            assertThat(get(server, "/metrics").body()).contains("batchagent_ready 1.0");
        }
    }

    @Test
    void shouldServeEveryMeterAsPrometheusTextAndRefuseOtherPaths() throws Exception {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Counter.builder("batchagent.test.things")
                .tag("tool", "echo")
                .register(registry)
                .increment(3);
        try (OpsServer server = OpsServer.start(new InetSocketAddress("127.0.0.1", 0), registry, new HealthChecks())) {
            HttpResponse<String> metrics = get(server, "/metrics");
            assertThat(metrics.headers().firstValue("Content-Type"))
                    .hasValueSatisfying(type -> assertThat(type).startsWith("text/plain"));
            assertThat(metrics.body()).contains("batchagent_test_things_total{tool=\"echo\"} 3.0");
            assertThat(get(server, "/nothing").statusCode()).isEqualTo(404);
            assertThat(HTTP.send(
                                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/ready"))
                                            .POST(HttpRequest.BodyPublishers.noBody())
                                            .build(),
                                    HttpResponse.BodyHandlers.ofString())
                            .statusCode())
                    .isEqualTo(405);
        }
    }
}
