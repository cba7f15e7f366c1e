package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Invariant 2 across a crash: the inference worker runs as its own process and is killed with
 * SIGKILL mid-batch (nothing committed on the way out); a fresh process takes over, and every job
 * still ends with exactly one final result per job id.
 */
@WithKafka
class InferenceWorkerCrashIT {

    @TempDir
    Path stateDir;

    @Test
    void shouldGiveEveryJobOneFinalResultAfterTheInferenceWorkerIsKilledMidBatch(KafkaCluster kafka, TestInfo info)
            throws Exception {
        int jobs = 40;
        TestNames names = TestNames.of(info);
        try (PipelineFixture fixture = PipelineFixture.start(
                kafka,
                names,
                stateDir,
                SimulatorOptions.builder().profile("h100-qwen2.5-32b"),
                c -> c.withToolOptions(Map.of("sim_search.latency.ms", "300")),
                EnumSet.of(Stage.JOB_COMPILER, Stage.COALESCER, Stage.ASSEMBLER, Stage.TOOLS))) {
            List<String> inputs = IntStream.range(0, jobs)
                    .mapToObj(i -> "{\"topic\":\"t" + i + "\",\"query\":\"q" + i + "\",\"id\":" + i + "}")
                    .toList();
            BatchDefinition definition = PipelineFixture.definition(
                    "You are a test agent.",
                    "Topic: {topic}\nQuery: {query}",
                    inputs,
                    List.of(PipelineFixture.simSearch(10_000)),
                    3);

            Process first =
                    WorkerProcess.startInference(kafka, names, fixture.simulator.baseUrl(), stateDir.resolve("worker"));
            BatchClient.Submission submission = fixture.client.submit("crash", definition);
            await().atMost(Duration.ofMinutes(2))
                    .until(() -> fixture.client.finalResults("crash").size() >= 6);
            first.destroyForcibly();
            assertThat(first.waitFor(30, TimeUnit.SECONDS)).isTrue();
            int finishedBeforeKill = fixture.client.finalResults("crash").size();
            assertThat(finishedBeforeKill).isLessThan(jobs);

            Process second =
                    WorkerProcess.startInference(kafka, names, fixture.simulator.baseUrl(), stateDir.resolve("worker"));
            try {
                List<AgentResult> results = fixture.client.await(submission.jobIds(), r -> {}, Duration.ofMinutes(3));

                assertThat(results).hasSize(jobs).doesNotContainNull();
                assertThat(results).extracting(AgentResult::getStatus).containsOnly(JobStatus.SUCCEEDED);
                assertThat(results).extracting(AgentResult::getTurns).containsOnly(2);
                List<AgentResult> all = TopicContents.read(
                        kafka.clientConfig(), fixture.pipeline.topics().results());
                Map<String, Long> recordsPerJob =
                        all.stream().collect(Collectors.groupingBy(AgentResult::getJobId, Collectors.counting()));
                assertThat(recordsPerJob.keySet()).containsExactlyInAnyOrderElementsOf(submission.jobIds());
                // Replays may repeat the in-flight call and its result record; the latest record per job is final
                // either way.
                assertThat(all).extracting(AgentResult::getStatus).containsOnly(JobStatus.SUCCEEDED);
            } finally {
                second.destroyForcibly();
                second.waitFor(30, TimeUnit.SECONDS);
            }
        }
    }
}
