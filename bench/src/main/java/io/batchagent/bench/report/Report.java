package io.batchagent.bench.report;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;

/**
 * The results of one driver run: {@code results.json} (raw figures and how they were obtained),
 * {@code results.md} (a table), {@code chart.png}, in {@code bench/results/<workload>/}.
 *
 * <p>The JSON always says which engine produced the figures and whether they are simulated, the
 * command that produced them, the machine (cores and load), the targets met or missed, and the rows
 * this workload contributes to the README's results table ({@code readme_rows}).
 */
public final class Report {

    private final String workload;
    private final ObjectNode root = JsonNodeFactory.instance.objectNode();
    private long startedNanos = System.nanoTime();

    public Report(String workload, String command, String engineUrl, String engineDescription, boolean simulated) {
        this.workload = workload;
        root.put("workload", workload);
        root.put("command", command);
        ObjectNode engine = root.putObject("engine");
        engine.put("url", engineUrl);
        engine.put("description", engineDescription);
        engine.put("simulated", simulated);
        root.put("started_at", Instant.now().toString());
        ObjectNode machine = root.putObject("machine");
        machine.put("available_processors", Runtime.getRuntime().availableProcessors());
        Json.putNumber(
                machine,
                "load_average_at_start",
                ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        machine.put("java", System.getProperty("java.vm.name") + " " + Runtime.version());
        machine.put("git_commit", gitCommit());
        root.putObject("config");
        root.putArray("runs");
        root.putObject("summary");
        root.putArray("targets");
        root.putArray("notes");
        root.putArray("readme_rows");
    }

    /**
     * For a driver that builds its report at the end: records when it really started and the machine's load
     * average then (the constructor takes both at the time it is called).
     */
    public void started(Instant at, double loadAverage) {
        root.put("started_at", at.toString());
        Json.putNumber(root.with("machine"), "load_average_at_start", loadAverage);
    }

    /**
     * When a driver started, read as its first step: the wall-clock time, the machine's load average and the
     * monotonic clock. A driver builds its {@link Report} at the end and gives it this ({@link #applyTo}), so
     * that {@code started_at}, {@code load_average_at_start} and {@code driver_seconds} describe the whole run.
     */
    public record Start(Instant at, double loadAverage, long nanos, String gitCommit) {
        public static Start now() {
            return new Start(
                    Instant.now(),
                    ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(),
                    System.nanoTime(),
                    Report.gitCommit());
        }

        public void applyTo(Report report) {
            report.started(at, loadAverage);
            report.startedNanos = nanos;
            report.root.with("machine").put("git_commit", gitCommit);
        }
    }

    /** The load average recorded as the start's. */
    public double loadAtStart() {
        return root.path("machine").path("load_average_at_start").asDouble(Double.NaN);
    }

    public ObjectNode root() {
        return root;
    }

    public ObjectNode config() {
        return (ObjectNode) root.get("config");
    }

    public ArrayNode runs() {
        return (ArrayNode) root.get("runs");
    }

    public ObjectNode summary() {
        return (ObjectNode) root.get("summary");
    }

    public void note(String text) {
        ((ArrayNode) root.get("notes")).add(text);
    }

    /**
     * Records a target from the issue.
     *
     * @param met null when the run could not decide it (e.g. a figure the engine did not report)
     */
    public void target(String name, String target, String measured, Boolean met, String note) {
        ObjectNode node = ((ArrayNode) root.get("targets")).addObject();
        node.put("name", name);
        node.put("target", target);
        node.put("measured", measured);
        if (met == null) {
            node.putNull("met");
        } else {
            node.put("met", met);
        }
        node.put("note", note);
    }

    /** A row for the README's results table: our figure beside the original's. */
    public void readmeRow(String what, String ours, String original) {
        ObjectNode node = ((ArrayNode) root.get("readme_rows")).addObject();
        node.put("what", what);
        node.put("engine", root.path("engine").path("description").asText());
        node.put("ours", ours);
        node.put("original", original);
        node.put("command", root.path("command").asText());
    }

    /** Writes the three files into {@code dir} (created if needed); returns the JSON file. */
    public Path write(Path dir, String markdownBody, JFreeChart chart) {
        Json.putNumber(
                root.with("machine"),
                "load_average_at_end",
                ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        Json.putNumber(root, "driver_seconds", (System.nanoTime() - startedNanos) / 1e9);
        try {
            Files.createDirectories(dir);
            Path json = dir.resolve("results.json");
            Files.writeString(json, Json.MAPPER.writeValueAsString(root) + "\n", StandardCharsets.UTF_8);
            Files.writeString(dir.resolve("results.md"), header() + markdownBody + footer(), StandardCharsets.UTF_8);
            if (chart != null) {
                ChartUtils.saveChartAsPNG(dir.resolve("chart.png").toFile(), chart, 900, 520);
            }
            return json;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write results to " + dir, e);
        }
    }

    private String header() {
        StringBuilder out = new StringBuilder();
        out.append("# ").append(workload).append("\n\n");
        out.append("- Command: `").append(root.path("command").asText()).append("`\n");
        out.append("- Engine: ")
                .append(root.path("engine").path("description").asText())
                .append(
                        root.path("engine").path("simulated").asBoolean()
                                ? ". **Simulated figures** (timings and token counts come from the simulator's cost model)."
                                : root.path("engine").path("url").asText().startsWith("none") ? "." : ". Real engine.")
                .append('\n');
        out.append("- Machine: ")
                .append(root.path("machine").path("available_processors").asInt())
                .append(" cores, load average ")
                .append(root.path("machine").path("load_average_at_start").asText())
                .append(" at start (every process of the benchmark shares these cores, and anything else running counts"
                        + " in it); ")
                .append(root.path("machine").path("java").asText())
                .append('\n');
        out.append("- Started: ")
                .append(root.path("started_at").asText())
                .append(", commit ")
                .append(root.path("machine").path("git_commit").asText())
                .append("\n\n");
        return out.toString();
    }

    private String footer() {
        StringBuilder out = new StringBuilder("\n## Targets\n\n");
        java.util.List<java.util.List<String>> rows = new java.util.ArrayList<>();
        root.path("targets")
                .forEach(t -> rows.add(java.util.List.of(
                        t.path("name").asText(),
                        t.path("target").asText(),
                        t.path("measured").asText(),
                        t.path("met").isNull() ? "n/a" : t.path("met").asBoolean() ? "met" : "**missed**",
                        t.path("note").asText())));
        out.append(Markdown.table(java.util.List.of("target", "wanted", "measured", "", "note"), rows));
        if (root.path("notes").size() > 0) {
            out.append("\n## Notes\n\n");
            root.path("notes").forEach(n -> out.append("- ").append(n.asText()).append('\n'));
        }
        out.append("\nRaw figures: `results.json`; chart: `chart.png`.\n");
        return out.toString();
    }

    /**
     * The short commit of the working tree, with {@code -dirty} when tracked files differ from it (the figures then
     * come from code no commit holds). The benchmark's own outputs (bench/results, README.md's table) do not count:
     * {@code bench/run all} rewrites them as it goes.
     */
    static String gitCommit() {
        String head = git("rev-parse", "--short", "HEAD");
        if (head == null) {
            return "unknown";
        }
        String changes = git(
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":(exclude)bench/results",
                ":(exclude)README.md");
        return changes == null || changes.isEmpty() ? head : head + "-dirty";
    }

    private static String git(String... args) {
        try {
            java.util.List<String> command = new java.util.ArrayList<>(java.util.List.of("git"));
            command.addAll(java.util.List.of(args));
            Process git = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(git.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            return git.waitFor(5, TimeUnit.SECONDS) && git.exitValue() == 0 ? out : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }
}
