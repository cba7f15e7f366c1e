package io.batchagent.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.batchagent.cli.Pipeline;
import io.batchagent.cli.PipelineConfig;
import io.batchagent.cli.RoleAccess;
import io.batchagent.cli.Stage;
import io.batchagent.schemas.TopicProvisioner;
import io.batchagent.schemas.Topics;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * deploy/k8s rendered by {@code kubectl kustomize} and held to the code: the topic catalogue, the access each
 * role needs ({@link RoleAccess}), the CLI's own parser, the health endpoints, and the secrets rules.
 */
class KubernetesManifestsTest {

    static final Path BASE = Path.of("k8s");
    static final Path HPA_OVERLAY = Path.of("k8s-hpa");
    /** Settings a deployment may add to a catalogue topic (replication is the cluster's business). */
    private static final Set<String> DEPLOYMENT_TOPIC_SETTINGS = Set.of("min.insync.replicas", "retention.ms");

    private static List<HasMetadata> objects;

    @BeforeAll
    static void render() throws Exception {
        assumeTrue(Manifests.kubectlAvailable(), "kubectl is not installed: deploy/k8s is not rendered or checked");
        objects = Manifests.render(BASE);
    }

    /** Every BatchAgent workload (Deployment or StatefulSet), by role, with its pod template. */
    private static Map<String, PodTemplateSpec> workloads() {
        Map<String, PodTemplateSpec> workloads = new TreeMap<>();
        for (Deployment deployment : Manifests.ofType(objects, Deployment.class)) {
            workloads.put(
                    role(deployment.getSpec().getTemplate()),
                    deployment.getSpec().getTemplate());
        }
        for (StatefulSet set : Manifests.ofType(objects, StatefulSet.class)) {
            workloads.put(role(set.getSpec().getTemplate()), set.getSpec().getTemplate());
        }
        assertThat(workloads).as("BatchAgent workloads").containsOnlyKeys("topology", "inference", "tools");
        return workloads;
    }

    private static String role(PodTemplateSpec template) {
        return template.getMetadata().getLabels().get("app.kubernetes.io/component");
    }

    private static Container worker(PodTemplateSpec template) {
        return template.getSpec().getContainers().stream()
                .filter(c -> c.getImage().startsWith("batchagent/batchagent"))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no batchagent container in " + role(template)));
    }

    private static CommandLine.ParseResult parsed(PodTemplateSpec template) {
        return Manifests.parseWorker(Manifests.expandedArgs(worker(template), objects));
    }

    private static PipelineConfig configOf(CommandLine.ParseResult worker) {
        PipelineConfig config = PipelineConfig.defaults(
                worker.matchedOptionValue("--bootstrap-servers", ""), "sglang://engine:1", Path.of("state"));
        return config.withTopicPrefix(worker.matchedOptionValue("--topic-prefix", ""));
    }

    @Test
    void shouldParseEveryRoleCommandLineWithTheCliParser() {
        workloads().forEach((role, template) -> {
            CommandLine.ParseResult worker = parsed(template);
            assertThat(worker.matchedOptionValue("--role", ""))
                    .as("--role of the %s workload", role)
                    .isEqualTo(role);
            assertThat(Stage.parseRole(role)).isNotEmpty();
        });
    }

    @Test
    void shouldDeclareEveryCatalogueTopicWithItsPartitionsAndSettings() {
        Topics catalogue = Topics.defaults();
        Map<String, GenericKubernetesResource> declared =
                Manifests.ofKind(objects, "KafkaTopic").stream().collect(Collectors.toMap(this::topicName, t -> t));
        Set<Integer> partitions = new TreeSet<>();
        for (Topics.Topic<String, ?> topic : catalogue.all()) {
            assertThat(declared)
                    .as("KafkaTopic for catalogue topic %s", topic.name())
                    .containsKey(topic.name());
            Map<String, Object> spec = spec(declared.get(topic.name()));
            partitions.add(((Number) spec.get("partitions")).intValue());
            @SuppressWarnings("unchecked")
            Map<String, Object> config = (Map<String, Object>) spec.getOrDefault("config", Map.of());
            Map<String, String> settings = config.entrySet().stream()
                    .collect(Collectors.toMap(Map.Entry::getKey, e -> String.valueOf(e.getValue())));
            Map<String, String> expected = TopicProvisioner.topicConfigs(catalogue, topic);
            assertThat(settings).as("settings of %s", topic.name()).containsAllEntriesOf(expected);
            assertThat(settings.keySet())
                    .as("settings of %s beyond the catalogue's", topic.name())
                    .allMatch(key -> expected.containsKey(key) || DEPLOYMENT_TOPIC_SETTINGS.contains(key));
        }
        // Co-partitioned joins need one partition count, and the workers would create topics with theirs.
        assertThat(partitions).as("partition counts of the catalogue topics").hasSize(1);
        workloads()
                .forEach((role, template) -> assertThat(parsed(template).<Integer>matchedOptionValue("--partitions", 0))
                        .as("--partitions of %s", role)
                        .isEqualTo(partitions.iterator().next()));
        Set<String> catalogueNames =
                catalogue.all().stream().map(Topics.Topic::name).collect(Collectors.toSet());
        assertThat(declared.keySet())
                .as("KafkaTopics outside the catalogue (Connect's own only)")
                .allMatch(name -> catalogueNames.contains(name) || name.startsWith("batchagent-"));
    }

    @Test
    void shouldGrantEachRoleExactlyTheAccessItsStagesUse() {
        Map<String, GenericKubernetesResource> users = Manifests.ofKind(objects, "KafkaUser").stream()
                .filter(u -> u.getMetadata().getAnnotations() != null
                        && u.getMetadata().getAnnotations().containsKey("batchagent.io/role"))
                .collect(Collectors.toMap(u -> u.getMetadata().getAnnotations().get("batchagent.io/role"), u -> u));
        Map<String, PodTemplateSpec> workloads = workloads();
        assertThat(users.keySet()).as("a KafkaUser per role").isEqualTo(workloads.keySet());
        workloads.forEach((role, template) -> {
            CommandLine.ParseResult worker = parsed(template);
            boolean servesMetrics = worker.hasMatchedOption("--metrics-port");
            SortedSet<RoleAccess.Acl> expected = RoleAccess.of(Stage.parseRole(role), configOf(worker), servesMetrics)
                    .acls();
            assertThat(acls(users.get(role))).as("ACLs of the %s user", role).containsExactlyElementsOf(expected);
            assertThat(spec(users.get(role)))
                    .as("authentication of %s", role)
                    .extracting(s -> ((Map<?, ?>) s.get("authentication")).get("type"))
                    .isEqualTo("scram-sha-512");
            // The workload authenticates as that user, over the TLS listener of the cluster's SCRAM users.
            String userSecret = users.get(role).getMetadata().getName();
            assertThat(template.getSpec().getVolumes())
                    .as("volumes of %s", role)
                    .anyMatch(v -> v.getSecret() != null
                            && userSecret.equals(v.getSecret().getSecretName()));
            Map<String, String> kafka = kafkaSettings(worker);
            assertThat(kafka)
                    .as("client security settings of %s", role)
                    .containsEntry("security.protocol", "SASL_SSL")
                    .containsEntry("sasl.mechanism", "SCRAM-SHA-512");
            assertThat(kafka.get("sasl.jaas.config"))
                    .as("JAAS config of %s: read from the mounted secret", role)
                    .startsWith("${dir:");
        });
        GenericKubernetesResource kafka = Manifests.ofKind(objects, "Kafka").get(0);
        assertThat(kafka.toString()).contains("scram-sha-512");
    }

    private static Map<String, String> kafkaSettings(CommandLine.ParseResult worker) {
        Map<String, String> settings = new HashMap<>();
        if (worker.hasMatchedOption("--kafka")) {
            Map<String, String> matched = worker.matchedOption("--kafka").getValue();
            settings.putAll(matched);
        }
        return settings;
    }

    @SuppressWarnings("unchecked")
    private static SortedSet<RoleAccess.Acl> acls(GenericKubernetesResource user) {
        Map<String, Object> authorization = (Map<String, Object>) spec(user).get("authorization");
        SortedSet<RoleAccess.Acl> acls = new TreeSet<>();
        for (Map<String, Object> acl : (List<Map<String, Object>>) authorization.get("acls")) {
            Map<String, Object> resource = (Map<String, Object>) acl.get("resource");
            acls.add(new RoleAccess.Acl(
                    (String) resource.get("type"),
                    (String) resource.get("name"),
                    "prefix".equals(resource.get("patternType")),
                    new TreeSet<>((List<String>) acl.get("operations"))));
        }
        return acls;
    }

    @Test
    void shouldProbeHealthAndReadinessOnTheMetricsPortOfEveryRole() {
        workloads().forEach((role, template) -> {
            Container container = worker(template);
            int port = parsed(template).<Integer>matchedOptionValue("--metrics-port", -1);
            assertThat(container.getPorts())
                    .as("ports of %s", role)
                    .anyMatch(p -> "metrics".equals(p.getName()) && p.getContainerPort() == port);
            assertThat(container.getLivenessProbe().getHttpGet().getPath())
                    .as("liveness of %s", role)
                    .isEqualTo("/health");
            assertThat(container.getReadinessProbe().getHttpGet().getPath())
                    .as("readiness of %s", role)
                    .isEqualTo("/ready");
            assertThat(container.getLivenessProbe().getHttpGet().getPort().getStrVal())
                    .isEqualTo("metrics");
            assertThat(container.getResources().getRequests())
                    .as("resource requests of %s", role)
                    .containsKeys("cpu", "memory");
            assertThat(Manifests.ofType(objects, PodDisruptionBudget.class))
                    .as("a PodDisruptionBudget for %s", role)
                    .anyMatch(pdb -> template.getMetadata()
                            .getLabels()
                            .entrySet()
                            .containsAll(
                                    pdb.getSpec().getSelector().getMatchLabels().entrySet()));
        });
    }

    @Test
    void shouldKeepStreamsStateOnVolumesWithStandbyReplicas() {
        StatefulSet topology = Manifests.ofType(objects, StatefulSet.class).get(0);
        CommandLine.ParseResult worker = parsed(topology.getSpec().getTemplate());
        assertThat(Stage.parseRole(worker.matchedOptionValue("--role", ""))).allMatch(Stage::isStreamsApp);
        String stateDir =
                worker.matchedOptionValue("--state-dir", Path.of("none")).toString();
        assertThat(topology.getSpec().getVolumeClaimTemplates())
                .extracting(c -> c.getMetadata().getName())
                .contains("state");
        assertThat(worker(topology.getSpec().getTemplate()).getVolumeMounts())
                .anyMatch(m -> m.getName().equals("state") && m.getMountPath().equals(stateDir));
        assertThat(Integer.parseInt(kafkaSettings(worker).getOrDefault("num.standby.replicas", "0")))
                .isPositive();
    }

    @Test
    void shouldTakeEngineKeysFromSecretsAndNeverFromAConfigMap() {
        for (ConfigMap map : Manifests.ofType(objects, ConfigMap.class)) {
            assertThat(map.getData().keySet())
                    .as("keys of ConfigMap %s", map.getMetadata().getName())
                    .noneMatch(key -> key.toLowerCase().matches(".*(api.?key|password|secret|token).*"));
        }
        Container inference = worker(workloads().get("inference"));
        assertThat(inference.getEnv())
                .as("the engine key of the inference role")
                .anyMatch(e -> e.getName().equals("BATCHAGENT_API_KEY")
                        && e.getValueFrom() != null
                        && e.getValueFrom().getSecretKeyRef() != null);
        Set<String> secrets = Manifests.ofType(objects, Secret.class).stream()
                .map(s -> s.getMetadata().getName())
                .collect(Collectors.toSet());
        String keySecret = inference.getEnv().stream()
                .filter(e -> e.getName().equals("BATCHAGENT_API_KEY"))
                .findFirst()
                .orElseThrow()
                .getValueFrom()
                .getSecretKeyRef()
                .getName();
        assertThat(secrets).contains(keySecret);
        assertThat(inference.getArgs()).noneMatch(arg -> arg.toLowerCase().contains("key="));
    }

    @Test
    void shouldScaleInferenceAndToolsOnTheLagOfTheirOwnGroups() throws Exception {
        Map<String, GenericKubernetesResource> scaled = Manifests.ofKind(objects, "ScaledObject").stream()
                .collect(Collectors.toMap(
                        o -> (String) ((Map<?, ?>) spec(o).get("scaleTargetRef")).get("name"), o -> o));
        Map<String, Stage> targets = new LinkedHashMap<>();
        targets.put("batchagent-inference", Stage.INFERENCE);
        targets.put("batchagent-tools", Stage.TOOLS);
        assertThat(scaled.keySet()).containsExactlyInAnyOrderElementsOf(targets.keySet());
        targets.forEach((deployment, stage) -> {
            PodTemplateSpec template = workloads().get(stage.roleName());
            PipelineConfig config = configOf(parsed(template));
            Map<?, ?> trigger =
                    (Map<?, ?>) ((List<?>) spec(scaled.get(deployment)).get("triggers")).get(0);
            Map<?, ?> metadata = (Map<?, ?>) trigger.get("metadata");
            assertThat(trigger.get("type")).isEqualTo("kafka");
            assertThat(metadata.get("consumerGroup"))
                    .as("group scaled on for %s", deployment)
                    .isEqualTo(Pipeline.groupId(config, stage));
            assertThat(RoleAccess.topics(stage, config, Topics.create(config.topicPrefix(), Map.of()))
                            .reads())
                    .as("topics %s reads", stage.roleName())
                    .contains((String) metadata.get("topic"));
            assertThat(spec(scaled.get(deployment))).containsKey("fallback");
        });
        List<HasMetadata> withoutKeda = Manifests.render(HPA_OVERLAY);
        assertThat(Manifests.ofKind(withoutKeda, "ScaledObject")).isEmpty();
        assertThat(Manifests.ofType(withoutKeda, HorizontalPodAutoscaler.class))
                .extracting(h -> h.getSpec().getScaleTargetRef().getName())
                .containsExactlyInAnyOrderElementsOf(targets.keySet());
    }

    @Test
    void shouldRunConnectWithBothSinksOnTheResultsTopic() {
        GenericKubernetesResource connect =
                Manifests.ofKind(objects, "KafkaConnect").get(0);
        assertThat(connect.getMetadata().getAnnotations()).containsEntry("strimzi.io/use-connector-resources", "true");
        List<GenericKubernetesResource> connectors = Manifests.ofKind(objects, "KafkaConnector");
        assertThat(connectors)
                .extracting(c -> (String) spec(c).get("class"))
                .containsExactlyInAnyOrder(
                        "io.debezium.connector.jdbc.JdbcSinkConnector",
                        "org.apache.iceberg.connect.IcebergSinkConnector");
        for (GenericKubernetesResource connector : connectors) {
            assertThat(((Map<?, ?>) spec(connector).get("config")).get("topics"))
                    .isEqualTo(Topics.defaults().results().name());
            assertThat(connector.getMetadata().getLabels())
                    .containsEntry("strimzi.io/cluster", connect.getMetadata().getName());
        }
    }

    @Test
    void shouldConfigureEachKafkaConnectorAsConnectorsShipsIt() throws java.io.IOException {
        for (GenericKubernetesResource connector : Manifests.ofKind(objects, "KafkaConnector")) {
            String name = connector.getMetadata().getName();
            com.fasterxml.jackson.databind.JsonNode shipped = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(Path.of("..", "connectors", "config", name.replaceFirst("^batchagent-", "") + ".json")
                            .toFile());
            Map<String, String> expected = new TreeMap<>();
            shipped.get("config")
                    .fields()
                    .forEachRemaining(e -> expected.put(e.getKey(), e.getValue().asText()));
            Map<String, String> actual = new TreeMap<>();
            ((Map<?, ?>) spec(connector).get("config")).forEach((k, v) -> actual.put(k.toString(), v.toString()));
            actual.put("connector.class", spec(connector).get("class").toString());
            actual.put("tasks.max", spec(connector).get("tasksMax").toString());

            assertThat(shipped.get("name").asText()).isEqualTo(name);
            assertThat(actual).as(name).isEqualTo(expected);
        }
    }

    private String topicName(GenericKubernetesResource topic) {
        Object name = spec(topic).get("topicName");
        return name != null ? name.toString() : topic.getMetadata().getName();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> spec(GenericKubernetesResource resource) {
        return (Map<String, Object>) resource.getAdditionalProperties().get("spec");
    }
}
