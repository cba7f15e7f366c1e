package io.batchagent.simulator;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class EngineSimulatorMainTest {

    @Test
    void shouldTurnCommandLineOptionsIntoSimulatorOptions() {
        EngineSimulatorMain main = new EngineSimulatorMain();
        new CommandLine(main)
                .parseArgs(
                        "--port",
                        "0",
                        "--profile",
                        "instant",
                        "--model",
                        "qwen-sim",
                        "--speedup",
                        "20",
                        "--tool-rule",
                        "web_search.query=Topic: (.*)",
                        "--fail-on-marker",
                        "BOOM");

        SimulatorOptions options = main.toOptions();

        assertThat(options.port()).isZero();
        assertThat(options.profile()).isSameAs(EngineProfile.INSTANT);
        assertThat(options.modelName()).isEqualTo("qwen-sim");
        assertThat(options.speedup()).isEqualTo(20.0);
        assertThat(options.toolCallRule()).hasToString("web_search.query=Topic: (.*)");
        assertThat(options.failOnMarker()).isEqualTo("BOOM");
    }

    @Test
    void shouldDefaultToTheH100ProfileOnPort30000() {
        EngineSimulatorMain main = new EngineSimulatorMain();
        new CommandLine(main).parseArgs();

        SimulatorOptions options = main.toOptions();

        assertThat(options.port()).isEqualTo(30000);
        assertThat(options.profile()).isSameAs(EngineProfile.H100_QWEN32B);
        assertThat(options.host()).isEqualTo("127.0.0.1");
        assertThat(options.dialect()).isEqualTo(SimulatorDialect.SGLANG);
        assertThat(options.priorityScheduling()).isTrue();
        assertThat(options.cacheReport()).isTrue();
    }

    @Test
    void shouldImitateAVllmStartedWithoutPrioritySchedulingOrPromptTokenDetails() {
        EngineSimulatorMain main = new EngineSimulatorMain();
        new CommandLine(main).parseArgs("--dialect", "vllm", "--no-priority-scheduling", "--no-cache-report");

        SimulatorOptions options = main.toOptions();

        assertThat(options.dialect()).isEqualTo(SimulatorDialect.VLLM);
        assertThat(options.priorityScheduling()).isFalse();
        assertThat(options.cacheReport()).isFalse();
    }

    @Test
    void shouldFailWithTheKnownProfilesForAnUnknownProfile() {
        StringWriter err = new StringWriter();
        CommandLine command = new CommandLine(new EngineSimulatorMain()).setErr(new PrintWriter(err));

        int exitCode = command.execute("--port", "0", "--profile", "tpu");

        assertThat(exitCode).isEqualTo(2);
        assertThat(err.toString()).contains("unknown engine profile 'tpu'").contains("h100-qwen2.5-32b");
    }
}
