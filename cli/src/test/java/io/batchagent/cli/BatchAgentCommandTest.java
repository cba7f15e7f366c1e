package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.client.BatchDefinition;
import io.batchagent.events.CompactionMode;
import io.batchagent.events.CompactionPolicy;
import io.batchagent.events.ToolSpec;
import io.batchagent.tools.ToolDeclarations;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The command line as a user meets it, run in-process: errors, help, the spec file, the simulator's options. */
class BatchAgentCommandTest {

    /** The repository's examples folder (tests run in the module's folder). */
    private static final Path EXAMPLES = Path.of("..", "examples");

    @TempDir
    Path dir;

    private record Outcome(int exitCode, String out, String err) {}

    private static Outcome execute(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine commandLine = BatchAgentCommand.commandLine();
        commandLine.setOut(new PrintWriter(out, true));
        commandLine.setErr(new PrintWriter(err, true));
        int exitCode = commandLine.execute(args);
        return new Outcome(exitCode, out.toString(), err.toString());
    }

    private Path write(String name, String content) throws IOException {
        return Files.writeString(dir.resolve(name), content);
    }

    private static BatchAgentCommand.Run parseRun(String... args) {
        CommandLine commandLine = BatchAgentCommand.commandLine();
        CommandLine.ParseResult parsed = commandLine.parseArgs(args);
        return (BatchAgentCommand.Run) parsed.subcommand().commandSpec().userObject();
    }

    @Test
    void shouldExitTwoWithOneLineNamingFileAndLineWhenAnInputsLineIsNotJson() throws Exception {
        write("task.txt", "Topic: {topic}");
        write("inputs.jsonl", "{\"topic\": \"a\"}\n{\"topic\": \"b\",}\n");

        Outcome outcome = execute("run", "--batch", dir.toString());

        assertThat(outcome.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(outcome.err().lines())
                .singleElement()
                .asString()
                .startsWith("batchagent run: " + dir.resolve("inputs.jsonl") + " line 2 is not valid JSON")
                .endsWith("each line must be one JSON object");
    }

    @Test
    void shouldExitTwoWithOneLineNamingTheOptionWhenItIsUnknownOrMalformed() {
        Outcome unknown = execute("run", "--max-inflite", "8");
        Outcome malformed = execute("run", "--stall-timeout", "ten minutes");

        assertThat(unknown.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(unknown.err().lines())
                .singleElement()
                .asString()
                .isEqualTo("batchagent run: Unknown options: '--max-inflite', '8' (see 'batchagent run --help')");
        assertThat(malformed.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(malformed.err().lines())
                .singleElement()
                .asString()
                .contains("'ten minutes' is not a duration; write e.g. 90s, 10m, 2h or 0");
    }

    @Test
    void shouldTakeTheSchedulingPolicyIntoTheWorkersFlowControlAndExplainIt() {
        BatchAgentCommand.Run byDefault = parseRun("run");
        BatchAgentCommand.Run newFirst = parseRun("run", "--scheduling", "new-first");
        Outcome unknown = execute("run", "--scheduling", "fifo");
        Outcome help = execute("run", "--help");

        assertThat(byDefault.limits.flowControl().scheduling())
                .isEqualTo(io.batchagent.inference.SchedulingPolicy.DEFAULT);
        assertThat(newFirst.limits.flowControl().scheduling())
                .isEqualTo(io.batchagent.inference.SchedulingPolicy.NEW_FIRST);
        assertThat(unknown.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(unknown.err())
                .contains("unknown scheduling policy 'fifo'; one of continuing-first, new-first, least-remaining-work");
        assertThat(help.out().replaceAll("\\s+", " "))
                .contains("--scheduling=POLICY")
                .contains("least-remaining-work (one queue");
    }

    @Test
    void shouldTakeMaxInflightAsAnAdaptiveCeilingOrFixedAndTheOutageBudget() {
        BatchAgentCommand.Run adaptive = parseRun("run", "--max-inflight", "48");
        BatchAgentCommand.Run fixed = parseRun(
                "run", "--max-inflight", "fixed:16", "--engine-outage-budget", "90s", "--engine-timeout", "2m");
        Outcome malformed = execute("run", "--max-inflight", "fixed:many");

        assertThat(adaptive.limits.maxInflight).isEqualTo(48);
        assertThat(adaptive.limits.flowControl().adaptive()).isTrue();
        assertThat(adaptive.limits.flowControl().outageBudget()).isEqualTo(java.time.Duration.ofMinutes(10));
        assertThat(fixed.limits.maxInflight).isEqualTo(16);
        assertThat(fixed.limits.flowControl().adaptive()).isFalse();
        assertThat(fixed.limits.flowControl().outageBudget()).isEqualTo(java.time.Duration.ofSeconds(90));
        assertThat(fixed.limits.engineTimeout).isEqualTo(java.time.Duration.ofMinutes(2));
        assertThat(malformed.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(malformed.err())
                .contains("--max-inflight takes N (the ceiling of an adaptive limit) or fixed:N, got 'fixed:many'");
    }

    @Test
    void shouldTakeTheStagesProcessingGuaranteeExactlyOnceUnlessToldAtLeastOnce() {
        CommandLine.ParseResult defaults =
                BatchAgentCommand.commandLine().parseArgs("worker", "--bootstrap-servers", "k:9092", "--role", "all");
        CommandLine.ParseResult atLeastOnce = BatchAgentCommand.commandLine()
                .parseArgs(
                        "worker",
                        "--bootstrap-servers",
                        "k:9092",
                        "--role",
                        "all",
                        "--processing-guarantee",
                        "at_least_once");
        Outcome malformed =
                execute("worker", "--bootstrap-servers", "k:9092", "--role", "all", "--processing-guarantee", "once");

        assertThat(((BatchAgentCommand.Worker)
                                defaults.subcommand().commandSpec().userObject())
                        .exactlyOnce)
                .isTrue();
        assertThat(((BatchAgentCommand.Worker)
                                atLeastOnce.subcommand().commandSpec().userObject())
                        .exactlyOnce)
                .isFalse();
        assertThat(malformed.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(malformed.err())
                .contains("'once' is not a processing guarantee: use exactly_once_v2 or at_least_once");
    }

    @Test
    void shouldExitTwoNamingTheMissingFile() {
        Outcome missingFile = execute(
                "run",
                "--task",
                dir.resolve("nope.txt").toString(),
                "--inputs",
                dir.resolve("in.jsonl").toString());
        Outcome noBatch = execute("run");

        assertThat(missingFile.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(missingFile.err().lines())
                .singleElement()
                .asString()
                .isEqualTo("batchagent run: " + dir.resolve("nope.txt") + ": no such file");
        assertThat(noBatch.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(noBatch.err()).contains("no batch given: use --batch DIR, --spec FILE, or --task and --inputs");
    }

    @Test
    void shouldPrintAStackTraceOnlyWithVerbose() throws Exception {
        write("task.txt", "Topic: {topic}");
        write("inputs.jsonl", "[1]\n");

        Outcome quiet = execute("run", "--batch", dir.toString());
        Outcome verbose = execute("run", "--verbose", "--batch", dir.toString());

        assertThat(quiet.err()).doesNotContain("\tat ");
        assertThat(quiet.err().lines())
                .singleElement()
                .asString()
                .contains("inputs.jsonl line 1 must be a JSON object of template variables, got array");
        assertThat(verbose.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(verbose.err())
                .contains("java.lang.IllegalArgumentException")
                .contains("\tat io.batchagent.client.BatchDefinition.readInputs");
    }

    @Test
    void shouldExitTwoNamingTheSpecFileLineOrKey() throws Exception {
        Path badYaml = write("syntax.yaml", "task: hi\n  inputs: [\n");
        Path unknownKey = write("key.yaml", "task: hi\ninputs: [{topic: a}]\nmax_turn: 3\n");
        Path badValue =
                write("value.json", "{\"task\": \"hi\", \"inputs\": [{\"topic\": \"a\"}], \"max_turns\": \"three\"}");

        Outcome syntax = execute("run", "--spec", badYaml.toString());
        Outcome key = execute("run", "--spec", unknownKey.toString());
        Outcome value = execute("run", "--spec", badValue.toString());

        assertThat(syntax.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(syntax.err().lines())
                .singleElement()
                .asString()
                .startsWith("batchagent run: " + badYaml + " line 2 column ");
        assertThat(key.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(key.err().lines())
                .singleElement()
                .asString()
                .startsWith("batchagent run: " + unknownKey + ": unknown key(s) [max_turn]; a batch spec may have [")
                .contains("max_turns");
        assertThat(value.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(value.err().lines())
                .singleElement()
                .asString()
                .isEqualTo("batchagent run: " + badValue + ": 'max_turns' must be a whole number, got \"three\"");
    }

    @Test
    void shouldDescribeTheSameBatchWithTheSpecFileAsWithTheBatchDirectory() throws Exception {
        BatchDefinition fromDirectory = parseRun(
                        "run", "--batch", EXAMPLES.resolve("research").toString())
                .definitionForTest();
        BatchDefinition fromSpec = parseRun(
                        "run", "--spec", EXAMPLES.resolve("research.yaml").toString())
                .definitionForTest();

        assertThat(fromDirectory.inputs()).hasSize(20);
        assertThat(fromSpec).isEqualTo(fromDirectory);
        assertThat(fromSpec.derivedBatchId()).isEqualTo(fromDirectory.derivedBatchId());
    }

    @Test
    void shouldLetACommandLineOptionWinOverTheSpecFileAndInlineEverything() throws Exception {
        Path spec = write("batch.yaml", """
                task: "Topic: {topic}"
                system_prompt: Be brief.
                inputs:
                  - {topic: kv cache}
                  - {topic: attention}
                tools:
                  - {name: lookup, cacheable: true}
                output_schema: {type: object, required: [answer]}
                max_turns: 3
                max_tokens: 256
                deadline_seconds: 60
                """);

        BatchDefinition definition =
                parseRun("run", "--spec", spec.toString(), "--max-turns", "7").definitionForTest();

        assertThat(definition.taskTemplate()).isEqualTo("Topic: {topic}");
        assertThat(definition.systemPrompt()).isEqualTo("Be brief.");
        assertThat(definition.inputs()).containsExactly("{\"topic\":\"kv cache\"}", "{\"topic\":\"attention\"}");
        assertThat(definition.outputSchemaJson()).isEqualTo("{\"required\":[\"answer\"],\"type\":\"object\"}");
        assertThat(definition.maxTurns()).as("the option wins over the file").isEqualTo(7);
        assertThat(definition.maxTokens()).as("the file wins over the default").isEqualTo(256);
        assertThat(definition.deadlineMs()).isEqualTo(60_000);
        ToolSpec lookup = definition.tools().get(0);
        assertThat(lookup.getCacheable()).isTrue();
        assertThat(lookup.getCacheTtlMs())
                .as("cacheable without a TTL")
                .isEqualTo(ToolDeclarations.DEFAULT_CACHE_TTL_MS);
    }

    @Test
    void shouldGroupRunOptionsUnderHeadingsInItsHelp() {
        Outcome help = execute("run", "--help");

        assertThat(help.exitCode()).isZero();
        String usage = help.out();
        assertThat(usage).startsWith("Usage: batchagent run [OPTIONS]");
        int batch = usage.indexOf("\nBatch:\n");
        int engine = usage.indexOf("\nEngine:\n");
        int limits = usage.indexOf("\nLimits:\n");
        int kafka = usage.indexOf("\nKafka:\n");
        int tools = usage.indexOf("\nTools:\n");
        int output = usage.indexOf("\nOutput:\n");
        assertThat(batch).isPositive();
        assertThat(new int[] {batch, engine, limits, kafka, tools, output}).isSorted();
        assertThat(usage.indexOf("--spec=FILE")).isBetween(batch, engine);
        assertThat(usage.indexOf("--backend=URL")).isBetween(engine, limits);
        assertThat(usage.indexOf("--stall-timeout=DURATION")).isBetween(limits, kafka);
        assertThat(usage.indexOf("--bootstrap-servers=HOST:PORT")).isBetween(kafka, tools);
        assertThat(usage.indexOf("--redis-url=URL")).isBetween(tools, output);
        assertThat(usage.indexOf("--output=FILE")).isGreaterThan(output);
        assertThat(usage).contains("Exit codes:").contains("3   stalled");
    }

    @Test
    void shouldPassSimulatorOptionsThroughToTheSimulatorAndShowItsHelp() {
        CommandLine commandLine = BatchAgentCommand.commandLine();
        CommandLine.ParseResult parsed =
                commandLine.parseArgs("simulator", "--port", "19394", "--profile", "instant", "--dialect", "vllm");
        Outcome help = execute("simulator", "--help");
        Outcome bad = execute("simulator", "--dialect", "tgi");

        CommandLine.Model.CommandSpec simulator = parsed.subcommand().commandSpec();
        assertThat(simulator.userObject()).isInstanceOf(io.batchagent.simulator.EngineSimulatorMain.class);
        assertThat(simulator.findOption("--port").<Integer>getValue()).isEqualTo(19394);
        assertThat(simulator.findOption("--profile").<String>getValue()).isEqualTo("instant");
        assertThat(simulator.findOption("--dialect").<String>getValue()).isEqualTo("vllm");
        assertThat(help.exitCode()).isZero();
        assertThat(help.out())
                .startsWith("Usage: batchagent simulator")
                .contains("--port=<port>")
                .contains("SIMULATED");
        assertThat(bad.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(bad.err().lines())
                .singleElement()
                .asString()
                .isEqualTo(
                        "batchagent simulator: --dialect must be sglang or vllm, got 'tgi' (see 'batchagent simulator --help')");
    }

    @Test
    void shouldReadStallTimeoutsAsAPersonWritesThem() {
        BatchAgentCommand.DurationConverter converter = new BatchAgentCommand.DurationConverter();

        assertThat(converter.convert("90s")).isEqualTo(Duration.ofSeconds(90));
        assertThat(converter.convert("10m")).isEqualTo(Duration.ofMinutes(10));
        assertThat(converter.convert("2h")).isEqualTo(Duration.ofHours(2));
        assertThat(converter.convert("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThat(converter.convert("45")).isEqualTo(Duration.ofSeconds(45));
        assertThat(converter.convert("PT1M")).isEqualTo(Duration.ofMinutes(1));
        assertThat(converter.convert("0")).isZero();
        assertThat(parseRun("run").limits.stallTimeout).isEqualTo(Duration.ofMinutes(10));
    }

    @Test
    void shouldReadCompactionFromTheSpecFileAndLetTheOptionsWin() throws Exception {
        Path spec = write("long.yaml", """
                task: "Topic: {topic}"
                inputs: [{topic: a}]
                compaction: {mode: summarize, keep_turns: 3, truncate_chars: 120, context_fraction: 0.5}
                """);
        Path modeOnly = write("mode.yaml", "task: hi\ninputs: [{topic: a}]\ncompaction: truncate\n");

        CompactionPolicy fromFile =
                parseRun("run", "--spec", spec.toString()).definitionForTest().compaction();
        CompactionPolicy fromMode = parseRun("run", "--spec", modeOnly.toString())
                .definitionForTest()
                .compaction();
        CompactionPolicy fromOptions = parseRun(
                        "run",
                        "--spec",
                        spec.toString(),
                        "--compaction",
                        "truncate",
                        "--compaction-keep-turns",
                        "1",
                        "--max-conversation-bytes",
                        "100000")
                .definitionForTest()
                .compaction();

        assertThat(fromFile.getMode()).isEqualTo(CompactionMode.SUMMARIZE);
        assertThat(fromFile.getKeepTurns()).isEqualTo(3);
        assertThat(fromFile.getTruncateChars()).isEqualTo(120);
        assertThat(fromFile.getContextFraction()).isEqualTo(0.5);
        assertThat(fromMode.getMode()).isEqualTo(CompactionMode.TRUNCATE);
        assertThat(fromMode.getKeepTurns()).as("the schema's default").isEqualTo(2);
        assertThat(fromOptions.getMode()).isEqualTo(CompactionMode.TRUNCATE);
        assertThat(fromOptions.getKeepTurns()).isEqualTo(1);
        assertThat(fromOptions.getMaxConversationBytes()).isEqualTo(100_000);
        assertThat(parseRun("run", "--spec", spec.toString())
                        .definitionForTest()
                        .toSpec("b", 0)
                        .getCompaction())
                .isEqualTo(fromFile);
        assertThat(parseRun("run", "--spec", modeOnly.toString(), "--max-turns", "3")
                        .definitionForTest()
                        .toSpec("b", 0)
                        .getCompaction()
                        .getMode())
                .isEqualTo(CompactionMode.TRUNCATE);
        assertThat(parseRun("run", "--batch", EXAMPLES.resolve("research").toString())
                        .definitionForTest()
                        .compaction())
                .as("none unless asked for")
                .isNull();
    }

    @Test
    void shouldExitTwoNamingABadCompactionModeOrKey() throws Exception {
        Path badKey = write("badkey.yaml", "task: hi\ninputs: [{topic: a}]\ncompaction: {mode: truncate, keep: 2}\n");

        Outcome option = execute("run", "--batch", EXAMPLES.resolve("research").toString(), "--compaction", "shrink");
        Outcome key = execute("run", "--spec", badKey.toString());

        assertThat(option.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(option.err()).contains("--compaction must be none, truncate or summarize, got 'shrink'");
        assertThat(key.exitCode()).isEqualTo(BatchAgentCommand.EXIT_USAGE);
        assertThat(key.err()).contains(badKey + " 'compaction' has unknown keys [keep]");
    }
}
