package io.batchagent.cli;

import io.batchagent.client.ResultJson;
import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeoutException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code batchagent results}: a batch's results as JSON lines ({@link ResultJson}), each printed as it
 * finishes, those already finished first. Ends when every job of the batch has a result, unless
 * {@code --follow}. Runs no stage.
 */
@Command(
        name = "results",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Print a batch's results as JSON lines as they finish (those already finished first), until "
                    + "every job has one; with --follow, until stopped.",
            "A job run again (--retry-failed) is printed again when its new result arrives."
        },
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            "0:every job succeeded",
            "1:some jobs failed or were cancelled",
            "2:bad input, e.g. no such batch",
            "3:--timeout passed before every job had a result",
            "4:an error that is not the input's (broker, disk)"
        })
final class ResultsCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "BATCH_ID", description = "The batch, as 'submit' printed it.")
    String batchId;

    @Option(
            names = "--follow",
            description = "Keep printing results (of jobs run again, or of a workflow stage) until stopped.")
    boolean follow;

    @Option(
            names = "--output",
            paramLabel = "FILE",
            description = "Write the JSON lines to FILE (each flushed as it arrives) instead of stdout.")
    Path output;

    @Option(
            names = "--timeout",
            defaultValue = "0",
            paramLabel = "DURATION",
            converter = BatchAgentCommand.DurationConverter.class,
            description = "Give up after this long (e.g. 90s, 30m; 0: never; default: ${DEFAULT-VALUE}).")
    Duration timeout;

    @Mixin
    ClusterOptions cluster = new ClusterOptions();

    @Override
    public Integer call() throws IOException {
        // ~27 years: "never", still clear of overflow when added to System.nanoTime().
        Duration limit = timeout.isZero() ? Duration.ofDays(10_000) : timeout;
        List<AgentResult> results;
        try (PrintWriter lines =
                output == null ? null : new PrintWriter(Files.newBufferedWriter(output, StandardCharsets.UTF_8))) {
            PrintWriter out = lines != null ? lines : spec.commandLine().getOut();
            results = cluster.settings()
                    .client()
                    .follow(
                            batchId,
                            result -> {
                                out.println(ResultJson.toJson(result));
                                out.flush(); // each line as it arrives: a results command that is stopped keeps
                                // every line
                            },
                            follow,
                            () -> false,
                            limit);
        } catch (TimeoutException e) {
            spec.commandLine().getErr().println("batchagent results: " + e.getMessage());
            return BatchAgentCommand.EXIT_STALLED;
        }
        long failed = results.stream()
                .filter(r -> r.getStatus() != JobStatus.SUCCEEDED)
                .count();
        if (output != null) {
            spec.commandLine()
                    .getErr()
                    .printf("%d results (%d failed) written to %s%n", results.size(), failed, output);
        }
        return failed == 0 ? BatchAgentCommand.EXIT_OK : BatchAgentCommand.EXIT_JOBS_FAILED;
    }
}
