package io.batchagent.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.cli.BatchAgentCommand;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;

/** Renders a kustomization with the installed kubectl and parses each object with fabric8's typed model. */
final class Manifests {

    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
    private static final Pattern KUBERNETES_VARIABLE = Pattern.compile("\\$\\(([A-Za-z_][A-Za-z0-9_]*)\\)");

    private Manifests() {}

    /** Whether {@code kubectl} runs here. */
    static boolean kubectlAvailable() {
        try {
            Process process = new ProcessBuilder("kubectl", "version", "--client")
                    .redirectErrorStream(true)
                    .start();
            process.getInputStream().readAllBytes();
            return process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** {@code kubectl kustomize dir}, every object typed (Strimzi's and KEDA's as generic resources). */
    static List<HasMetadata> render(Path dir) throws IOException, InterruptedException {
        Process process = new ProcessBuilder("kubectl", "kustomize", dir.toString()).start();
        byte[] stdout = process.getInputStream().readAllBytes();
        String stderr = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(120, TimeUnit.SECONDS))
                .as("kubectl kustomize %s finishes", dir)
                .isTrue();
        assertThat(process.exitValue())
                .as("kubectl kustomize %s: %s", dir, stderr)
                .isZero();
        List<HasMetadata> objects = new ArrayList<>();
        for (String document : new String(stdout, StandardCharsets.UTF_8).split("(?m)^---$")) {
            if (!document.isBlank()) {
                try {
                    objects.add(SERIALIZATION.unmarshal(document, HasMetadata.class));
                } catch (RuntimeException e) {
                    throw new AssertionError(
                            "cannot parse a rendered object of " + dir + ": " + e.getMessage() + "\n" + document, e);
                }
            }
        }
        return objects;
    }

    static <T extends HasMetadata> List<T> ofType(List<HasMetadata> objects, Class<T> type) {
        return objects.stream().filter(type::isInstance).map(type::cast).toList();
    }

    static List<io.fabric8.kubernetes.api.model.GenericKubernetesResource> ofKind(
            List<HasMetadata> objects, String kind) {
        return ofType(objects, io.fabric8.kubernetes.api.model.GenericKubernetesResource.class).stream()
                .filter(o -> o.getKind().equals(kind))
                .toList();
    }

    /**
     * A container's arguments as the kubelet passes them: {@code $(VAR)} replaced by the variable's value
     * (literal, or from a rendered ConfigMap; a secret's value reads {@code <secret>}).
     */
    static List<String> expandedArgs(Container container, List<HasMetadata> objects) {
        Map<String, String> env = new HashMap<>();
        for (EnvVar var : container.getEnv()) {
            if (var.getValue() != null) {
                env.put(var.getName(), var.getValue());
            } else if (var.getValueFrom() != null && var.getValueFrom().getConfigMapKeyRef() != null) {
                var ref = var.getValueFrom().getConfigMapKeyRef();
                ConfigMap map = ofType(objects, ConfigMap.class).stream()
                        .filter(m -> m.getMetadata().getName().equals(ref.getName()))
                        .findFirst()
                        .orElseThrow(
                                () -> new AssertionError("no ConfigMap " + ref.getName() + " for $" + var.getName()));
                assertThat(map.getData()).as("ConfigMap %s", ref.getName()).containsKey(ref.getKey());
                env.put(var.getName(), map.getData().get(ref.getKey()));
            } else {
                env.put(var.getName(), "<secret>");
            }
        }
        List<String> args = new ArrayList<>();
        for (String arg : container.getArgs()) {
            Matcher matcher = KUBERNETES_VARIABLE.matcher(arg);
            StringBuilder expanded = new StringBuilder();
            while (matcher.find()) {
                assertThat(env).as("variables of %s", container.getName()).containsKey(matcher.group(1));
                matcher.appendReplacement(expanded, Matcher.quoteReplacement(env.get(matcher.group(1))));
            }
            matcher.appendTail(expanded);
            args.add(expanded.toString());
        }
        return args;
    }

    /** Parses {@code args} with the CLI's own parser; the parsed {@code worker} subcommand. */
    static CommandLine.ParseResult parseWorker(List<String> args) {
        CommandLine.ParseResult result =
                new CommandLine(new BatchAgentCommand()).parseArgs(args.toArray(String[]::new));
        assertThat(result.subcommand()).as("a subcommand in %s", args).isNotNull();
        assertThat(result.subcommand().commandSpec().name())
                .as("subcommand of %s", args)
                .isEqualTo("worker");
        return result.subcommand();
    }
}
