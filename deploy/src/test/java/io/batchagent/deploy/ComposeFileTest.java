package io.batchagent.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.batchagent.simulator.EngineSimulatorMain;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * deploy/compose held to the code. {@code docker compose config} needs a daemon here, so the file is parsed
 * as YAML (merge keys resolved) and checked: the services the issue names, every BatchAgent command line
 * parsed by the CLI's own parser, and Prometheus and Grafana wired to every role's metrics.
 */
class ComposeFileTest {

    private static final Path COMPOSE = Path.of("compose", "compose.yaml");
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private static JsonNode services() throws IOException {
        return YAML.readTree(Files.readString(COMPOSE)).path("services");
    }

    private static List<String> command(JsonNode service) {
        List<String> command = new ArrayList<>();
        service.path("command").forEach(arg -> command.add(arg.asText()));
        return command;
    }

    /** Every role's worker service, by role. */
    private static Map<String, CommandLine.ParseResult> workers() throws IOException {
        Map<String, CommandLine.ParseResult> workers = new TreeMap<>();
        for (Map.Entry<String, JsonNode> service : services().properties()) {
            List<String> command = command(service.getValue());
            if (!command.isEmpty() && command.get(0).equals("worker")) {
                CommandLine.ParseResult worker = Manifests.parseWorker(command);
                String role = worker.matchedOptionValue("--role", "");
                assertThat(service.getKey()).as("service of role %s", role).isEqualTo(role);
                workers.put(role, worker);
            }
        }
        return workers;
    }

    @Test
    void shouldRunEveryPartOfTheStackAsAService() throws IOException {
        JsonNode services = services();
        Set<String> names = new TreeSet<>();
        services.fieldNames().forEachRemaining(names::add);
        assertThat(names)
                .contains(
                        "kafka",
                        "redis",
                        "postgres",
                        "simulator",
                        "topology",
                        "inference",
                        "tools",
                        "connect",
                        "prometheus",
                        "grafana");
        assertThat(services.path("kafka").path("image").asText()).startsWith("apache/kafka:");
        assertThat(services.path("kafka")
                        .path("environment")
                        .path("KAFKA_PROCESS_ROLES")
                        .asText())
                .as("a KRaft broker")
                .contains("controller");
        assertThat(services.path("connect").path("volumes").toString()).contains("connectors/target/plugins");
        assertThat(services.path("registry").path("volumes").toString()).contains("connectors/target/registry");
        assertThat(services.path("connect")
                        .path("environment")
                        .path("APICURIO_REGISTRY_URL")
                        .asText())
                .startsWith("http://registry:8081");
    }

    @Test
    void shouldParseEveryBatchAgentCommandLineWithTheCliParser() throws IOException {
        Map<String, CommandLine.ParseResult> workers = workers();
        assertThat(workers.keySet()).containsExactlyInAnyOrder("topology", "inference", "tools");
        workers.forEach((role, worker) -> {
            assertThat(worker.hasMatchedOption("--metrics-port"))
                    .as("%s serves metrics", role)
                    .isTrue();
            assertThat(worker.<String>matchedOptionValue("--bootstrap-servers", ""))
                    .isEqualTo("kafka:9092");
        });
        // The simulator subcommand hands its arguments to the simulator's own parser.
        List<String> simulator = command(services().path("simulator"));
        assertThat(simulator.get(0)).isEqualTo("simulator");
        new CommandLine(new EngineSimulatorMain())
                .parseArgs(simulator.subList(1, simulator.size()).toArray(String[]::new));
        String backend = workers.get("inference").matchedOptionValue("--backend", "");
        String port = simulator.get(simulator.indexOf("--port") + 1);
        assertThat(backend).as("the inference role's engine").isEqualTo("sglang://simulator:" + port);
    }

    @Test
    void shouldScrapeEveryRoleAndProvisionTheDashboard() throws IOException {
        String prometheus =
                Files.readString(COMPOSE.resolveSibling("prometheus").resolve("prometheus.yml"));
        workers()
                .forEach((role, worker) -> assertThat(prometheus)
                        .as("Prometheus scrapes %s", role)
                        .contains("\"" + role + ":" + worker.matchedOptionValue("--metrics-port", 0) + "\""));
        JsonNode grafana = services().path("grafana");
        String dashboards = null;
        for (JsonNode volume : grafana.path("volumes")) {
            String[] parts = volume.asText().split(":");
            if (parts[1].startsWith("/var/lib/grafana/dashboards")) {
                dashboards = parts[0];
            }
        }
        assertThat(dashboards).as("the dashboards Grafana is given").isNotNull();
        assertThat(COMPOSE.resolveSibling(dashboards).resolve("batchagent.json"))
                .exists();
    }
}
