package io.batchagent.opencode;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.gateway.Gateway;
import io.batchagent.gateway.GatewayConfig;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.opencode.OpenCodeSettings.Isolation;
import io.batchagent.simulator.EngineProfile;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real OpenCode sessions that end badly: killed from outside mid-run, or hanging past their deadline. The
 * simulated model asks OpenCode's bash tool to run {@code sleep 600}, so each session has a grandchild
 * process that must not outlive it.
 */
class SessionFailuresIT {

    private static final String HANGING_TASK = "Command: sleep 600\nDescription: wait for the build to finish";

    @TempDir
    static Path workDir;

    private static EngineSimulator engine;
    private static Gateway gateway;
    private static OpenCodeRuntime runtime;

    @BeforeAll
    static void start() {
        assumeTrue(
                OpenCodeRuntime.findExecutable(OpenCodeSettings.DEFAULT_EXECUTABLE)
                        .isPresent(),
                "opencode is not installed: run opencode-runtime/install-opencode.sh (npm i -g opencode-ai@1.18.33)");
        engine = EngineSimulator.start(
                SimulatorOptions.builder().profile(EngineProfile.INSTANT).build());
        gateway = Gateway.start(
                GatewayConfig.forModel("sim-model").withMaxInflight(2),
                EngineEndpoint.parse("sglang://127.0.0.1:" + engine.port()),
                InferenceWorkerConfig.defaults());
        runtime = new OpenCodeRuntime(
                OpenCodeSettings.forModel("sim-model")
                        .withWorkDir(workDir)
                        .withMaxSessions(2)
                        .withIsolation(Isolation.NAMESPACE)
                        .withSessionTimeout(Duration.ofMinutes(2)),
                gateway);
    }

    @AfterAll
    static void stop() {
        if (runtime != null) {
            runtime.close();
            gateway.close();
            engine.close();
        }
    }

    @Test
    void shouldFailASessionKilledMidRunWithItsReasonAndLeaveNoProcessBehind() throws Exception {
        // Given a session whose OpenCode is running a tool
        CompletableFuture<SessionResult> session =
                runtime.submit(OpenCodeJob.of("killed-session", "failures", HANGING_TASK));
        List<ProcessHandle> tree = awaitToolRunning("killed-session");
        ProcessHandle openCode = tree.stream()
                .filter(p -> p.info().command().map(c -> c.contains("opencode")).orElse(false))
                .findFirst()
                .orElseThrow();

        // When OpenCode is killed from outside, as the OOM killer would
        openCode.destroyForcibly();

        // Then the job fails, saying so with OpenCode's stderr, and nothing of the session is left
        SessionResult result = session.get(60, TimeUnit.SECONDS);
        assertThat(result.status()).isEqualTo(JobStatus.FAILED);
        assertThat(result.errorReason()).isEqualTo(ErrorReason.OTHER);
        assertThat(result.errorMessage()).contains("killed by signal 9").contains("stderr tail");
        assertThat(result.usage())
                .hasValueSatisfying(usage -> assertThat(usage.modelCalls()).isEqualTo(1));
        assertAllGone(tree);
    }

    @Test
    void shouldFailASessionThatHangsPastItsDeadlineAndLeaveNoProcessBehind() throws Exception {
        // Given a session with a 20 s deadline (OpenCode needs a few CPU-seconds to start) whose tool never finishes
        CompletableFuture<SessionResult> session = runtime.submit(
                OpenCodeJob.of("hung-session", "failures", HANGING_TASK).withDeadline(Duration.ofSeconds(20)));
        List<ProcessHandle> tree = awaitToolRunning("hung-session");

        // When the deadline passes, then the job fails with TIMEOUT, and the whole tree is gone
        SessionResult result = session.get(60, TimeUnit.SECONDS);
        assertThat(result.status()).isEqualTo(JobStatus.FAILED);
        assertThat(result.errorReason()).isEqualTo(ErrorReason.TIMEOUT);
        assertThat(result.errorMessage()).contains("deadline of 20000 ms");
        assertThat(result.exitCode()).isEmpty();
        // It was stopped inside its first step, while the tool ran (OpenCode reports a tool once it finished).
        assertThat(result.output().path("steps").asInt()).isEqualTo(1);
        assertThat(result.usage())
                .hasValueSatisfying(usage -> assertThat(usage.modelCalls()).isEqualTo(1));
        assertAllGone(tree);
    }

    /** The session's process tree once OpenCode's bash tool runs {@code sleep 600} in it. */
    private static List<ProcessHandle> awaitToolRunning(String jobId) {
        List<ProcessHandle> tree = new ArrayList<>();
        await().atMost(Duration.ofSeconds(90)).until(() -> {
            tree.clear();
            runtime.sessionProcess(jobId).ifPresent(root -> {
                tree.add(root);
                root.descendants().forEach(tree::add);
            });
            return tree.stream()
                    .anyMatch(p -> p.info()
                            .commandLine()
                            .map(c -> c.contains("sleep 600"))
                            .orElse(false));
        });
        return List.copyOf(tree);
    }

    private static void assertAllGone(List<ProcessHandle> tree) {
        await().atMost(Duration.ofSeconds(20))
                .untilAsserted(() -> assertThat(tree.stream()
                                .filter(ProcessHandle::isAlive)
                                .map(ProcessHandle::pid)
                                .toList())
                        .isEmpty());
        assertThat(tree).hasSizeGreaterThanOrEqualTo(3);
    }
}
