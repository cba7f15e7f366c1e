package io.batchagent.bench.bound;

import io.batchagent.simulator.EngineProfile;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench/run bound [options]}: prints the {@link IdealBound} of a uniform workload shape on a
 * simulated engine profile, e.g. {@code bench/run bound --agents 20 --turns 2 --shared-prefix 2300
 * --unique-prompt 60 --output 50 --tool-result 150 --tool-ms 400 --max-inflight 8}.
 */
@Command(
        name = "bench/run bound",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description =
                "Prints the ideal-schedule lower bound of a workload shape under a simulated engine profile's "
                        + "cost model, with zero Kafka cost: max(engine work at the largest possible batch, the longest agent's critical path).")
public final class BoundCommand implements Callable<Integer> {

    @Option(
            names = "--engine",
            defaultValue = "sim://h100-qwen2.5-32b",
            description = "sim://<profile> (default: ${DEFAULT-VALUE}); known profiles: instant, h100-qwen2.5-32b.")
    String engine;

    @Option(names = "--agents", required = true, description = "Agents in the batch.")
    int agents;

    @Option(names = "--turns", defaultValue = "2", description = "Model calls per agent (default: ${DEFAULT-VALUE}).")
    int turns;

    @Option(
            names = "--shared-prefix",
            defaultValue = "0",
            description = "Tokens every agent's first prompt shares (default: ${DEFAULT-VALUE}).")
    long sharedPrefix;

    @Option(
            names = "--unique-prompt",
            required = true,
            description = "Tokens of each agent's first prompt after the shared prefix.")
    long uniquePrompt;

    @Option(names = "--output", required = true, description = "Output tokens per model call.")
    long output;

    @Option(
            names = "--tool-result",
            defaultValue = "0",
            description = "Tokens a tool result adds to the next prompt (default: ${DEFAULT-VALUE}).")
    long toolResult;

    @Option(
            names = "--tool-ms",
            defaultValue = "0",
            description = "Tool wait between an agent's calls, ms (default: ${DEFAULT-VALUE}).")
    double toolMillis;

    @Option(
            names = "--max-inflight",
            defaultValue = "2147483647",
            description = "Most model calls at once (default: unlimited; the engine's own limits still apply).")
    int maxInFlight;

    @Option(
            names = "--speedup",
            defaultValue = "1",
            description = "Simulator speedup: engine time divided by it (default: ${DEFAULT-VALUE}).")
    double speedup;

    @Override
    public Integer call() {
        EngineProfile profile = IdealBound.profileOf(engine)
                .orElseThrow(() -> new IllegalArgumentException("the bound needs a simulated engine, sim://<profile>"));
        WorkloadShape shape = WorkloadShape.uniform(
                agents, turns, sharedPrefix, uniquePrompt, output, toolResult, toolMillis, maxInFlight);
        IdealBound.Result result = IdealBound.of(IdealBound.spedUp(profile, speedup), shape);
        System.out.println(profile);
        System.out.println(result.explain());
        return 0;
    }
}
