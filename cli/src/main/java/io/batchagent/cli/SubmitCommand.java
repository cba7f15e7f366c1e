package io.batchagent.cli;

import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import java.io.IOException;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code batchagent submit}: publishes a batch's spec and jobs to a cluster whose workers run elsewhere,
 * prints the batch id and exits. Runs no stage. Submitting the same batch again submits only the jobs
 * that are neither finished nor already submitted, as {@code run} does.
 */
@Command(
        name = "submit",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        abbreviateSynopsis = true,
        description = {
            "Publish a batch (spec and jobs) to a cluster whose workers run elsewhere, print its batch id on "
                    + "stdout and exit. Read its results with 'batchagent results BATCH_ID'.",
            "The batch is given as for 'run': a directory (--batch), one YAML or JSON file (--spec), or single options."
        })
final class SubmitCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @ArgGroup(validate = false, heading = "%nBatch:%n", order = 1)
    BatchAgentCommand.Run.BatchOptions batch = new BatchAgentCommand.Run.BatchOptions();

    @Option(
            names = "--model",
            defaultValue = "sim-model",
            paramLabel = "NAME",
            order = 2,
            description = "Model name sent to the engine (default: ${DEFAULT-VALUE}).")
    String model = "sim-model";

    @ArgGroup(validate = false, heading = "%nLimits:%n", order = 3)
    BatchAgentCommand.Run.JobLimitOptions limits = new BatchAgentCommand.Run.JobLimitOptions();

    @Mixin
    ClusterOptions cluster = new ClusterOptions();

    @Override
    public Integer call() throws IOException {
        BatchSpecFile file = batch.specFile == null ? null : BatchSpecFile.read(batch.specFile);
        BatchDefinition definition = BatchAgentCommand.Run.definition(spec.commandLine(), batch, model, limits, file);
        String batchId = BatchAgentCommand.Run.pick(
                spec.commandLine(), "--batch-id", batch.batchId, file == null ? null : file.batchId());
        if (batchId == null) {
            batchId = definition.derivedBatchId();
        }
        BatchClient.Submission submission = cluster.settings().client().submit(batchId, definition, batch.retryFailed);
        spec.commandLine()
                .getErr()
                .printf(
                        "submitted %d jobs (%d already finished, %d already submitted)%n",
                        submission.submitted(), submission.alreadyFinished(), submission.alreadySubmitted());
        spec.commandLine().getOut().println(batchId);
        return BatchAgentCommand.EXIT_OK;
    }
}
