package io.batchagent.bench.chaos;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.bench.report.Json;
import io.batchagent.bench.report.Markdown;
import io.batchagent.bench.report.Report;
import io.batchagent.bench.workload.BenchOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * {@code bench/run chaos}: runs the fault campaign {@code --reps} times in a row (the issue wants two
 * passes in a row) and writes {@code bench/results/chaos/}.
 */
public final class ChaosReport {

    private ChaosReport() {}

    public static Path run(BenchOptions options, ChaosCampaign.Settings settings, Consumer<String> log)
            throws Exception {
        Report report = new Report(
                "chaos",
                options.command(),
                "sim://instant (faults and varied answers)",
                "engine simulator, profile instant, with SIMULATED faults",
                true);
        ObjectNode config = report.config();
        config.put("jobs", settings.jobs());
        config.put("kills", settings.kills());
        config.put("broker_restart", settings.brokerRestart());
        config.put("fuzzed_records", settings.fuzz());
        config.put("seed", settings.seed());
        config.put("faults", settings.faults().spec());
        config.put(
                "processes",
                "broker, job-compiler, coalescer, assembler, workflow, 2 x inference, 2 x tools, client: one process each");
        List<ChaosCampaign.Outcome> outcomes = new ArrayList<>();
        StringBuilder md = new StringBuilder("## Runs\n\n");
        for (int rep = 0; rep < Math.max(1, options.reps()); rep++) {
            ChaosCampaign.Settings run = new ChaosCampaign.Settings(
                    settings.jobs(),
                    settings.kills(),
                    settings.brokerRestart(),
                    settings.fuzz(),
                    settings.seed() + rep,
                    settings.faults(),
                    settings.timeout());
            ChaosCampaign.Outcome outcome =
                    ChaosCampaign.execute(options.workDir().resolve("chaos"), run, log);
            outcomes.add(outcome);
            log.accept("rep " + (rep + 1) + ": " + headline(outcome)
                    + (outcome.fuzzUnhandledByKind().isEmpty()
                            ? ""
                            : "; unhandled bad records " + outcome.fuzzUnhandledByKind())
                    + (outcome.deadRoles().isEmpty() ? "" : "; dead roles " + outcome.deadRoles())
                    + (outcome.crashLines().isEmpty()
                            ? ""
                            : "; crash lines " + outcome.crashLines().size()));
            report.runs().add(json(outcome));
            md.append(markdown(rep + 1, outcome));
        }
        boolean allPassed = outcomes.stream().allMatch(ChaosCampaign.Outcome::passed);
        report.target(
                "every job ends with one final result",
                settings.jobs() + " of " + settings.jobs(),
                outcomes.stream()
                        .map(o -> o.jobsWithFinalResult() + "")
                        .toList()
                        .toString(),
                outcomes.stream().allMatch(o -> o.jobsWithoutFinalResult().isEmpty()),
                "");
        report.target(
                "no job has final records that disagree",
                "0",
                outcomes.stream()
                        .map(o -> o.disagreeingJobs().size() + "")
                        .toList()
                        .toString(),
                outcomes.stream().allMatch(o -> o.disagreeingJobs().isEmpty()),
                "per job and attempt");
        report.target(
                "completed cacheable tool calls never re-executed",
                "0 keys executed twice",
                outcomes.stream()
                        .map(o -> o.cacheableExecutionsRepeated().size() + "")
                        .toList()
                        .toString(),
                outcomes.stream().allMatch(o -> o.cacheableExecutionsRepeated().isEmpty()),
                "chaos_fetch, from the tools' ledger");
        report.target(
                "every bad record gets a dead letter or a FAILED result",
                settings.fuzz() + " of " + settings.fuzz(),
                outcomes.stream().map(o -> o.fuzzHandled() + "").toList().toString(),
                outcomes.stream().allMatch(o -> o.fuzzHandled() == o.fuzzed()),
                "");
        report.target(
                "no stage crashes",
                "0",
                outcomes.stream()
                        .map(o -> (o.deadRoles().size() + o.crashLines().size()) + "")
                        .toList()
                        .toString(),
                outcomes.stream()
                        .allMatch(o -> o.deadRoles().isEmpty() && o.crashLines().isEmpty()),
                "processes alive at the end, and no thread replacement or loop stop in any log");
        report.summary().put("passed", allPassed);
        report.readmeRow(
                "Chaos: " + settings.jobs() + " agents, " + settings.kills() + " SIGKILLs over every role"
                        + (settings.brokerRestart() ? " + a broker restart" : "") + ", engine faults, "
                        + settings.fuzz() + " bad records",
                outcomes.stream().map(ChaosReport::headline).toList().toString(),
                "not published");
        return report.write(options.resultsDir().resolve("chaos"), md.toString(), null);
    }

    static String headline(ChaosCampaign.Outcome o) {
        return (o.passed() ? "passed: " : "FAILED: ") + o.jobsWithFinalResult() + "/"
                + o.settings().jobs() + " final, "
                + o.disagreeingJobs().size() + " disagreeing, "
                + o.cacheableExecutionsRepeated().size() + " cached calls re-run, "
                + o.fuzzHandled() + "/" + o.fuzzed() + " bad records handled, " + o.repeatedModelCalls()
                + " repeated model calls";
    }

    private static ObjectNode json(ChaosCampaign.Outcome o) {
        ObjectNode node = Json.MAPPER.createObjectNode();
        node.put("seed", o.settings().seed());
        node.put("passed", o.passed());
        Json.putNumber(node, "batch_seconds", o.batchSeconds());
        node.put("jobs_with_final_result", o.jobsWithFinalResult());
        node.set("final_statuses", Json.MAPPER.valueToTree(o.finalStatuses()));
        node.set("disagreeing_jobs", Json.MAPPER.valueToTree(o.disagreeingJobs()));
        node.set("jobs_without_final_result", Json.MAPPER.valueToTree(o.jobsWithoutFinalResult()));
        node.set("cacheable_keys_executed_more_than_once", Json.MAPPER.valueToTree(o.cacheableExecutionsRepeated()));
        node.put("cacheable_executions", o.cacheableExecutions());
        node.put("coalescible_executions", o.coalescibleExecutions());
        ArrayNode kills = node.putArray("kills");
        o.kills()
                .forEach(k -> kills.addObject()
                        .put("role", k.role())
                        .put("results_at_kill", k.resultsAtKill())
                        .put("repeated_model_calls_until_next", k.repeatedCallsAfter()));
        node.put("repeated_model_calls", o.repeatedModelCalls());
        node.set("faults_injected", Json.MAPPER.valueToTree(o.faultsInjected()));
        node.put("fuzzed", o.fuzzed());
        node.put("fuzz_handled", o.fuzzHandled());
        node.set("fuzz_unhandled_by_topic_and_kind", Json.MAPPER.valueToTree(o.fuzzUnhandledByKind()));
        node.set("dead_roles", Json.MAPPER.valueToTree(o.deadRoles()));
        node.set("crash_lines", Json.MAPPER.valueToTree(o.crashLines()));
        return node;
    }

    private static String markdown(int rep, ChaosCampaign.Outcome o) {
        StringBuilder md = new StringBuilder("### Run " + rep + " (seed "
                + o.settings().seed() + "): " + (o.passed() ? "passed" : "**failed**") + "\n\n");
        md.append("- ")
                .append(headline(o))
                .append("; batch ")
                .append(Markdown.num(o.batchSeconds(), 1))
                .append(" s\n");
        md.append("- Final statuses: ").append(o.finalStatuses()).append('\n');
        md.append("- Tool executions: chaos_lookup (coalescible) ")
                .append(o.coalescibleExecutions())
                .append(", chaos_fetch (cacheable) ")
                .append(o.cacheableExecutions())
                .append('\n');
        md.append("- Engine faults injected: ").append(o.faultsInjected()).append('\n');
        if (!o.fuzzUnhandledByKind().isEmpty()) {
            md.append("- Bad records with neither a dead letter nor a FAILED result: ")
                    .append(o.fuzzUnhandledByKind())
                    .append('\n');
        }
        if (!o.deadRoles().isEmpty() || !o.crashLines().isEmpty()) {
            md.append("- Crashes: dead ")
                    .append(o.deadRoles())
                    .append("; log lines ")
                    .append(o.crashLines().stream().limit(5).toList())
                    .append('\n');
        }
        if (!o.disagreeingJobs().isEmpty()) {
            md.append("- Disagreeing jobs (first 3): ")
                    .append(o.disagreeingJobs().stream().limit(3).toList())
                    .append('\n');
        }
        md.append("\n");
        List<List<String>> rows = new ArrayList<>();
        o.kills()
                .forEach(k -> rows.add(
                        List.of(k.role(), Markdown.count(k.resultsAtKill()), Markdown.count(k.repeatedCallsAfter()))));
        md.append(Markdown.table(List.of("killed", "results at the kill", "repeated model calls until the next"), rows))
                .append('\n');
        return md.toString();
    }
}
