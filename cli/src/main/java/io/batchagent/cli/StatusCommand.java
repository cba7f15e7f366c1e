package io.batchagent.cli;

import io.batchagent.client.BatchStatus;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/**
 * {@code batchagent status}: where a batch stands on a cluster ({@link BatchStatus}): counts by status,
 * jobs in or waiting on a model call, jobs waiting on tools, tool activity, time since its last
 * progress. Runs no stage.
 */
@Command(
        name = "status",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description =
                "Print where a batch stands: jobs by status, turns in flight, tool activity, and how long since it last progressed.")
final class StatusCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "BATCH_ID", description = "The batch, as 'submit' printed it.")
    String batchId;

    @Mixin
    ClusterOptions cluster = new ClusterOptions();

    @Override
    public Integer call() {
        BatchStatus status = cluster.settings().client().status(batchId);
        spec.commandLine().getOut().println(status.describe(System.currentTimeMillis()));
        return BatchAgentCommand.EXIT_OK;
    }
}
