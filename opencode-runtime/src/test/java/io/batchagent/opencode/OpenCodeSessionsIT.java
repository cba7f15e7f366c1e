package io.batchagent.opencode;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.AgentResult;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.JobStatus;
import io.batchagent.events.WarmUpOutcome;
import io.batchagent.gateway.Gateway;
import io.batchagent.gateway.GatewayConfig;
import io.batchagent.gateway.PrefixReport;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.opencode.OpenCodeSettings.Isolation;
import io.batchagent.schemas.Topics;
import io.batchagent.simulator.EngineProfile;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three real OpenCode sessions as the jobs of one batch, through Kafka (opencode-jobs in, results out),
 * the OpenCode worker, the gateway (2 in-flight slots) and the engine simulator.
 */
@WithKafka
class OpenCodeSessionsIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TASK = "Command: {command}\nDescription: {description}\nThen report what you found.";

    @TempDir
    Path workDir;

    @TempDir
    Path repository;

    @Test
    void shouldRunThreeSessionsInParallelWithinTheBoundAndShareTheirPromptPrefix(KafkaCluster kafka, TestInfo info)
            throws Exception {
        assumeTrue(
                OpenCodeRuntime.findExecutable(OpenCodeSettings.DEFAULT_EXECUTABLE)
                        .isPresent(),
                "opencode is not installed: run opencode-runtime/install-opencode.sh (npm i -g opencode-ai@1.18.33)");
        TestNames names = TestNames.of(info);
        Topics catalogue = Topics.create(names.topicPrefix(), Map.of());
        OpenCodeTopics topics = OpenCodeTopics.of(catalogue, names.topicPrefix());
        kafka.createTopics(catalogue, 2);
        topics.ensure(kafka.admin(), 2, (short) 1);
        Files.writeString(repository.resolve("README.md"), "# kv-store\nA small key-value store.\n");
        Files.writeString(repository.resolve("notes.txt"), "alpha\nbeta\ngamma\n");

        try (EngineSimulator engine = EngineSimulator.start(SimulatorOptions.builder()
                        .profile(EngineProfile.INSTANT)
                        .build());
                Gateway gateway = Gateway.start(
                        GatewayConfig.forModel("sim-model").withMaxInflight(2),
                        EngineEndpoint.parse("sglang://127.0.0.1:" + engine.port()),
                        InferenceWorkerConfig.defaults());
                OpenCodeRuntime runtime = new OpenCodeRuntime(
                        OpenCodeSettings.forModel("sim-model")
                                .withWorkDir(workDir)
                                .withMaxSessions(3)
                                .withIsolation(Isolation.NAMESPACE),
                        gateway);
                OpenCodeWorker worker =
                        new OpenCodeWorker(kafka.clientConfig(), topics, runtime, gateway, names.applicationId())) {
            worker.start();
            OpenCodeJobs client = new OpenCodeJobs(kafka.clientConfig(), topics);
            BatchSpec spec = BatchSpec.newBuilder()
                    .setBatchId(names.name())
                    .setModel("sim-model")
                    .setTaskTemplate(TASK)
                    .setExpectedJobs(3)
                    .setOptions(Map.of(OpenCodeWorker.WORKSPACE_OPTION, repository.toString()))
                    .build();

            // When three jobs are submitted at once
            List<String> jobIds = client.submit(
                    spec,
                    List.of(
                            "{\"command\":\"ls\",\"description\":\"list the files\"}",
                            "{\"command\":\"cat README.md\",\"description\":\"read the readme\"}",
                            "{\"command\":\"wc -l notes.txt\",\"description\":\"count the notes\"}"));
            // and the engine holds the calls it gets once the warm-up is done, until all three sessions have called
            await().atMost(Duration.ofMinutes(2))
                    .until(() -> gateway.warmUpReport(names.name()).isPresent());
            engine.pauseScheduling();
            await().atMost(Duration.ofMinutes(2))
                    .until(() ->
                            gateway.stats().inFlight() == 2 && gateway.stats().waiting() == 1);
            assertThat(engine.stats().inFlight()).isEqualTo(2);
            engine.resumeScheduling();
            List<AgentResult> results = client.await(jobIds, Duration.ofMinutes(3));

            // Then each ends with its answer and a transcript of the tool it ran, in its own copy of the files
            List<String> expectedOutputs = List.of("notes.txt", "A small key-value store", "3 notes.txt");
            for (int i = 0; i < 3; i++) {
                AgentResult result = results.get(i);
                assertThat(result.getStatus())
                        .as("job %d: %s", i, result.getError())
                        .isEqualTo(JobStatus.SUCCEEDED);
                JsonNode output = JSON.readTree(result.getOutputJson());
                assertThat(output.path("result").asText()).startsWith("{\"answer\":\"simulated answer for: Command:");
                JsonNode tool = output.path("transcript")
                        .path("events")
                        .findParents("tool")
                        .get(0);
                assertThat(tool.path("tool").asText()).isEqualTo("bash");
                assertThat(tool.path("status").asText()).isEqualTo("completed");
                assertThat(tool.path("output").asText()).contains(expectedOutputs.get(i));
                assertThat(result.getUsage().getModelCalls()).isEqualTo(2);
                assertThat(result.getUsage().getPromptTokens()).isPositive();
                assertThat(result.getTimings().getFirstTokenMs()).isNotNull();
                assertThat(result.getWarmUp().getOutcome()).isEqualTo(WarmUpOutcome.VERIFIED);
            }

            // The engine never had more calls at once than the gateway's bound, though 3 sessions ran together
            assertThat(engine.stats().peakInFlight()).isLessThanOrEqualTo(2);
            assertThat(gateway.stats().peakInFlight()).isEqualTo(2);
            assertThat(gateway.stats().peakWaiting()).isGreaterThanOrEqualTo(1);

            // Every session's first prompt is the same up to its task: over 90% shared, all of it cached after warm-up
            PrefixReport sharing = gateway.prefixSharing(names.name());
            assertThat(sharing.sessions()).isEqualTo(3);
            assertThat(sharing.sharedFraction()).isGreaterThan(0.90);
            for (AgentResult result : results) {
                assertThat(result.getUsage().getCachedPromptTokens())
                        .isGreaterThan(result.getUsage().getPromptTokens() * 9 / 10);
            }
        }
    }
}
