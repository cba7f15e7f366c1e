package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import io.batchagent.schemas.Topics;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.IntStream;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Every role as {@code batchagent worker --role R --metrics-port 0} (parsed by the CLI's own parser and
 * started in this JVM), one batch through them, then their endpoints: every role turns ready, and every
 * metric the Grafana dashboard in deploy/ queries is exported by at least one role.
 */
@WithKafka
class RoleEndpointsIT {

    static final Path DASHBOARD = Path.of("..", "deploy", "grafana", "batchagent.json");
    private static final Path SCRAPES = Path.of("target", "role-metrics");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path stateDir;

    @Test
    void shouldExportEveryDashboardMetricAndTurnReadyWhenEachRoleRunsWithAMetricsPort(KafkaCluster kafka, TestInfo info)
            throws Exception {
        TestNames names = TestNames.of(info);
        Topics topics = Topics.create(names.topicPrefix(), Map.of());
        Map<String, BatchAgentCommand.RunningWorker> roles = new LinkedHashMap<>();
        try (EngineSimulator simulator = EngineSimulator.start(
                SimulatorOptions.builder().profile("instant").build())) {
            for (String role : List.of("topology", "tools", "inference")) {
                roles.put(role, startRole(role, kafka, names, BatchRunner.engineUrl(simulator)));
            }
            BatchClient client = new BatchClient(kafka.clientConfig(), topics);
            BatchDefinition definition = PipelineFixture.definition(
                    "You are a test agent.",
                    "Topic: {topic}\nQuery: {query}",
                    IntStream.range(0, 6)
                            .mapToObj(i -> "{\"topic\":\"t" + (i % 2) + "\",\"query\":\"q" + (i % 2) + "\"}")
                            .toList(),
                    List.of(PipelineFixture.simSearch(10_000)),
                    3);
            BatchClient.Submission submission = client.submit("endpoints", definition);
            produceUndecodableJob(kafka, topics);

            List<AgentResult> results = client.await(submission.jobIds(), r -> {}, Duration.ofMinutes(3));
            assertThat(results).extracting(AgentResult::getStatus).containsOnly(JobStatus.SUCCEEDED);

            // Generous bounds: these machines run many builds at once; nothing here measures time.
            await().atMost(Duration.ofMinutes(3))
                    .pollInterval(Duration.ofMillis(500))
                    .untilAsserted(() -> {
                        for (Map.Entry<String, BatchAgentCommand.RunningWorker> role : roles.entrySet()) {
                            HttpResponse<String> ready = get(role.getValue(), "/ready");
                            assertThat(ready.statusCode())
                                    .as("/ready of %s: %s", role.getKey(), ready.body())
                                    .isEqualTo(200);
                            assertThat(get(role.getValue(), "/health").statusCode())
                                    .as("/health of %s", role.getKey())
                                    .isEqualTo(200);
                        }
                    });

            Map<String, Set<String>> queried = dashboardMetrics(DASHBOARD);
            await().atMost(Duration.ofMinutes(3))
                    .pollInterval(Duration.ofSeconds(1))
                    .untilAsserted(() -> {
                        Set<String> exported = new TreeSet<>();
                        for (Map.Entry<String, BatchAgentCommand.RunningWorker> role : roles.entrySet()) {
                            String page = get(role.getValue(), "/metrics").body();
                            exported.addAll(sampleNames(page));
                            // Kept for whoever edits the dashboard: what each role exports.
                            Files.createDirectories(SCRAPES);
                            Files.writeString(SCRAPES.resolve(role.getKey() + ".prom"), page);
                        }
                        Map<String, Set<String>> missing = new TreeMap<>();
                        queried.forEach((panel, metrics) -> metrics.stream()
                                .filter(m -> !exported.contains(m))
                                .forEach(m -> missing.computeIfAbsent(panel, p -> new TreeSet<>())
                                        .add(m)));
                        assertThat(missing)
                                .as("dashboard panels naming metrics no role exports")
                                .isEmpty();
                    });

            // Least privilege, from evidence: every topic a role's clients produced to or consumed from is one
            // its KafkaUser (RoleAccess) allows for that operation.
            for (Map.Entry<String, BatchAgentCommand.RunningWorker> role : roles.entrySet()) {
                String page = get(role.getValue(), "/metrics").body();
                PipelineConfig config = PipelineConfig.defaults(kafka.bootstrapServers(), "sglang://engine:1", stateDir)
                        .withTopicPrefix(names.topicPrefix());
                Set<RoleAccess.Acl> allowed = RoleAccess.of(Stage.parseRole(role.getKey()), config, true)
                        .acls();
                Set<TopicUse> used = topicsUsed(page);
                assertThat(used).as("topics the %s role used", role.getKey()).isNotEmpty();
                used.forEach(use -> assertThat(allowed)
                        .as("%s by the %s role", use, role.getKey())
                        .anyMatch(acl -> acl.type().equals(RoleAccess.TOPIC)
                                && (acl.prefix()
                                        ? use.topic().startsWith(acl.name())
                                        : use.topic().equals(acl.name()))
                                && (acl.operations().contains(use.operation())
                                        || acl.operations().contains("All"))));
            }

            String topology = get(roles.get("topology"), "/metrics").body();
            assertThat(sum(topology, "batchagent_jobs_finished_total", "status=\"succeeded\""))
                    .isGreaterThanOrEqualTo(6);
            assertThat(sum(topology, "batchagent_dead_letters_total", "")).isGreaterThanOrEqualTo(1);
            assertThat(sum(topology, "batchagent_tool_requests_total", "tool=\"sim_search\""))
                    .isGreaterThanOrEqualTo(6);
            String inference = get(roles.get("inference"), "/metrics").body();
            assertThat(sum(inference, "batchagent_model_calls_total", "outcome=\"ok\""))
                    .isGreaterThanOrEqualTo(12);
            assertThat(sum(inference, "batchagent_model_prompt_tokens_total", ""))
                    .isPositive();
        } finally {
            List<BatchAgentCommand.RunningWorker> reverse = new ArrayList<>(roles.values());
            java.util.Collections.reverse(reverse);
            reverse.forEach(BatchAgentCommand.RunningWorker::close);
        }
    }

    private BatchAgentCommand.RunningWorker startRole(
            String role, KafkaCluster kafka, TestNames names, String engineUrl) {
        BatchAgentCommand.Worker worker = CommandLine.populateCommand(
                new BatchAgentCommand.Worker(),
                "--role",
                role,
                "--bootstrap-servers",
                kafka.bootstrapServers(),
                "--backend",
                engineUrl,
                "--topic-prefix",
                names.topicPrefix(),
                "--partitions",
                "2",
                "--state-dir",
                stateDir.resolve(role).toString(),
                "--tool-option",
                "sim_search.latency.ms=50",
                "--metrics-port",
                "0");
        return worker.start();
    }

    private static void produceUndecodableJob(KafkaCluster kafka, Topics topics) {
        try (KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(kafka.producerConfig(), new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.send(
                    new ProducerRecord<>(topics.agentJobs().name(), "not-a-job".getBytes(), new byte[] {1, 2, 3}));
        }
    }

    static HttpResponse<String> get(BatchAgentCommand.RunningWorker role, String path)
            throws IOException, InterruptedException {
        return HTTP.send(
                HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + role.ops().port() + path))
                        .timeout(Duration.ofSeconds(60))
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The metric names each panel's queries use: identifiers outside label matchers, grouping clauses and functions. */
    static Map<String, Set<String>> dashboardMetrics(Path dashboard) throws IOException {
        JsonNode root = JSON.readTree(Files.readString(dashboard));
        Map<String, Set<String>> byPanel = new TreeMap<>();
        for (JsonNode panel : root.path("panels")) {
            for (JsonNode target : panel.path("targets")) {
                byPanel.computeIfAbsent(panel.path("title").asText(), t -> new TreeSet<>())
                        .addAll(PromQl.metricNames(target.path("expr").asText()));
            }
        }
        assertThat(byPanel).as("panels in %s", dashboard).isNotEmpty();
        return byPanel;
    }

    /** The sample names of a Prometheus text page (histogram buckets appear as {@code _bucket}). */
    static Set<String> sampleNames(String page) {
        Set<String> names = new TreeSet<>();
        for (String line : page.split("\n")) {
            if (!line.isBlank() && !line.startsWith("#")) {
                names.add(line.split("[{ ]", 2)[0]);
            }
        }
        return names;
    }

    private static final java.util.regex.Pattern TOPIC_SAMPLE = java.util.regex.Pattern.compile(
            "^(kafka_producer_topic_record_send_total|kafka_consumer_fetch_manager_records_consumed_total)\\{[^}]*topic=\"([^\"]+)\"[^}]*} (\\S+)$");

    /** One operation a client performed on a topic. */
    record TopicUse(String topic, String operation) implements Comparable<TopicUse> {
        @Override
        public int compareTo(TopicUse other) {
            return (topic + operation).compareTo(other.topic + other.operation);
        }
    }

    /**
     * The topics this page's clients sent records to ({@code Write}) or consumed records from ({@code Read});
     * '_' is read as '.', because Kafka writes some topic tags with the dots replaced.
     */
    static Set<TopicUse> topicsUsed(String page) {
        Set<TopicUse> used = new TreeSet<>();
        for (String line : page.split("\n")) {
            java.util.regex.Matcher sample = TOPIC_SAMPLE.matcher(line);
            if (sample.matches() && Double.parseDouble(sample.group(3)) > 0) {
                used.add(new TopicUse(
                        sample.group(2).replace('_', '.'),
                        sample.group(1).startsWith("kafka_producer") ? "Write" : "Read"));
            }
        }
        return used;
    }

    /** The sum of the samples of {@code name} whose labels contain {@code labelText}. */
    static double sum(String page, String name, String labelText) {
        double sum = 0;
        for (String line : page.split("\n")) {
            if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
                if (line.contains(labelText)) {
                    sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                }
            }
        }
        return sum;
    }
}
