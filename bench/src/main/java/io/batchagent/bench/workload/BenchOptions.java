package io.batchagent.bench.workload;

import java.nio.file.Path;

/**
 * What every driver takes from the command line.
 *
 * @param engineUrl {@code sim://<profile>} or a real engine's URL
 * @param model the model name sent to the engine
 * @param speedup the simulator's speedup (ignored for a real engine)
 * @param reps repetitions per condition (orders alternate)
 * @param resultsDir where {@code <workload>/results.*} go
 * @param workDir scratch space for brokers and state (deleted per driver)
 * @param command the command line that started this run, recorded with the figures
 * @param apiKey the engine's API key from the environment, or null
 */
public record BenchOptions(
        String engineUrl,
        String model,
        double speedup,
        int reps,
        Path resultsDir,
        Path workDir,
        String command,
        String apiKey) {

    public BenchOptions withEngine(String url) {
        return new BenchOptions(url, model, speedup, reps, resultsDir, workDir, command, apiKey);
    }

    public BenchOptions withReps(int value) {
        return new BenchOptions(engineUrl, model, speedup, value, resultsDir, workDir, command, apiKey);
    }

    public BenchOptions withSpeedup(double value) {
        return new BenchOptions(engineUrl, model, value, reps, resultsDir, workDir, command, apiKey);
    }
}
