package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.events.AgentResult;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.schemas.RecordLimits;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Defect 3 on a real broker, exactly-once: a job whose record cannot fit the record budget (here 64 KiB)
 * ends FAILED with RECORD_TOO_LARGE and a dead letter, every other job of the batch succeeds, and no
 * stream thread fails over it (no replacement, no replay loop).
 */
@WithKafka
class RecordBudgetIT {

    private static final String TEMPLATE = "Topic: {topic}\nQuery: {query}\nThe query again: {query}";

    @TempDir
    Path stateDir;

    @Test
    void shouldFailOnlyTheOversizedJobAndKeepItsStreamThread(KafkaCluster kafka, TestInfo info) throws Exception {
        try (PipelineFixture fixture = PipelineFixture.start(
                kafka,
                TestNames.of(info),
                stateDir,
                SimulatorOptions.builder().profile("instant"),
                c -> c.withSerdeConfig(Map.of(RecordLimits.MAX_RECORD_BYTES_CONFIG, Integer.toString(64 * 1024))))) {
            List<String> inputs = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                // Job 2's input fits the budget (30,000 characters), but its first turn states it twice.
                String query = i == 2 ? "q".repeat(30_000) : "q" + i;
                inputs.add("{\"topic\":\"t" + i + "\",\"query\":\"" + query + "\"}");
            }
            BatchDefinition definition = PipelineFixture.definition(
                    "You are a test agent.", TEMPLATE, inputs, List.of(PipelineFixture.simSearch(10_000)), 3);

            BatchClient.Submission submission = fixture.client.submit("oversized", definition);
            Map<String, AgentResult> results =
                    fixture.client.await(submission.jobIds(), r -> {}, Duration.ofMinutes(2)).stream()
                            .collect(Collectors.toMap(AgentResult::getJobId, Function.identity()));

            AgentResult oversized = results.get(submission.jobIds().get(2));
            assertThat(oversized.getStatus()).isEqualTo(JobStatus.FAILED);
            assertThat(oversized.getBatchId()).isEqualTo("oversized");
            assertThat(oversized.getError().getReason()).isEqualTo(ErrorReason.RECORD_TOO_LARGE);
            assertThat(oversized.getError().getMessage())
                    .contains("bytes serialized, over the limit of "
                            + RecordLimits.from(fixture.config.serdeConfig()).maxValueBytes() + " bytes");
            assertThat(results.values().stream().filter(r -> r.getStatus() == JobStatus.SUCCEEDED))
                    .hasSize(5);
            List<DeadLetter> deadLetters = TopicContents.read(
                    kafka.clientConfig(), fixture.pipeline.topics().deadLetters());
            assertThat(deadLetters).singleElement().satisfies(letter -> {
                assertThat(letter.getTopic())
                        .isEqualTo(fixture.pipeline.topics().agentTurns().name());
                assertThat(letter.getExceptionClass()).endsWith("OversizedRecordException");
            });
            assertThat(fixture.pipeline.streamThreadFailures("job-compiler"))
                    .as("stream threads that failed")
                    .isZero();
        }
    }
}
