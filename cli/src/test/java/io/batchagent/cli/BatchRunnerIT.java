package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.client.BatchDefinition;
import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import io.batchagent.tools.ToolDeclarations;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Java entry point as {@code batchagent run} uses it: its own embedded broker in a data
 * directory, the simulator, every stage in one JVM; and a rerun over the same directory resumes.
 */
class BatchRunnerIT {

    @TempDir
    Path dataDir;

    @Test
    void shouldRunTheExampleBatchOnAnEmbeddedBrokerAndResumeItOnRerun() throws Exception {
        Path example = Path.of("..", "examples", "research");
        BatchDefinition definition = new BatchDefinition(
                java.nio.file.Files.readString(example.resolve("system.txt")),
                java.nio.file.Files.readString(example.resolve("task.txt")),
                BatchDefinition.readInputs(example.resolve("inputs.jsonl")),
                ToolDeclarations.read(example.resolve("tools.json")),
                BatchDefinition.readSchema(example.resolve("schema.json")),
                "sim-model",
                4,
                512);
        BatchRunner.Settings settings = new BatchRunner.Settings(
                null,
                dataDir,
                "sim://instant",
                null,
                null,
                null,
                8,
                Map.of("sim_search.latency.ms", "100"),
                "",
                Duration.ofMinutes(3));
        List<AgentResult> streamed = new CopyOnWriteArrayList<>();

        BatchSummary first = BatchRunner.run(settings, definition, streamed::add);

        assertThat(first.results()).hasSize(20);
        assertThat(first.results()).extracting(AgentResult::getStatus).containsOnly(JobStatus.SUCCEEDED);
        assertThat(first.results())
                .extracting(AgentResult::getIndex)
                .containsExactly(
                        0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L, 11L, 12L, 13L, 14L, 15L, 16L, 17L, 18L, 19L);
        assertThat(streamed).hasSize(20);
        assertThat(first.resumed()).isZero();
        assertThat(first.toolCallsRequested()).isEqualTo(20);
        assertThat(first.toolExecutions()).isBetween(9L, 20L);
        assertThat(first.results().get(0).getOutputJson()).contains("\"paper_id\":\"1706.03762\"");

        BatchSummary second = BatchRunner.run(settings, definition, result -> {});

        assertThat(second.batchId()).isEqualTo(first.batchId());
        assertThat(second.resumed()).isEqualTo(20);
        assertThat(second.toolExecutions()).isZero();
        assertThat(second.results())
                .extracting(AgentResult::getOutputJson)
                .containsExactlyElementsOf(
                        first.results().stream().map(AgentResult::getOutputJson).toList());
    }

    @Test
    void shouldReturnTheNewAttemptsResultWhenRetryingJobsThatFailedAfterAToolTurn() throws Exception {
        // Given a batch whose agents ask for a tool on turn 1, with max_turns 1: each job fails after its tool turn.
        Path example = Path.of("..", "examples", "research");
        List<String> inputs =
                BatchDefinition.readInputs(example.resolve("inputs.jsonl")).subList(0, 2);
        BatchDefinition oneTurn = new BatchDefinition(
                java.nio.file.Files.readString(example.resolve("system.txt")),
                java.nio.file.Files.readString(example.resolve("task.txt")),
                inputs,
                ToolDeclarations.read(example.resolve("tools.json")),
                BatchDefinition.readSchema(example.resolve("schema.json")),
                "sim-model",
                1,
                512);
        BatchRunner.Settings firstRun = new BatchRunner.Settings(
                null,
                dataDir,
                "sim://instant",
                null,
                null,
                "retried",
                8,
                Map.of("sim_search.latency.ms", "10"),
                "",
                Duration.ofMinutes(3));
        BatchSummary failed = BatchRunner.run(firstRun, oneTurn, result -> {});
        assertThat(failed.results()).allSatisfy(result -> {
            assertThat(result.getStatus()).isEqualTo(JobStatus.FAILED);
            assertThat(result.getError().getReason()).isEqualTo(io.batchagent.events.ErrorReason.MAX_TURNS_EXCEEDED);
            assertThat(result.getAttempt()).isEqualTo(1);
        });

        // When the same jobs are retried with enough turns, while the assembler still holds their first attempt
        BatchDefinition threeTurns = new BatchDefinition(
                oneTurn.systemPrompt(),
                oneTurn.taskTemplate(),
                inputs,
                oneTurn.tools(),
                oneTurn.outputSchemaJson(),
                "sim-model",
                3,
                512);
        BatchRunner.Settings retry = new BatchRunner.Settings(
                null,
                dataDir,
                "sim://instant",
                null,
                null,
                "retried",
                8,
                Map.of("sim_search.latency.ms", "10"),
                "",
                Duration.ofMinutes(3),
                true);
        List<AgentResult> streamed = new CopyOnWriteArrayList<>();
        BatchSummary retried = BatchRunner.run(retry, threeTurns, streamed::add);

        // Then the client returns each job's second attempt, run to its end, not the first attempt's FAILED result
        assertThat(retried.resumed()).isZero();
        assertThat(retried.results()).hasSize(2).allSatisfy(result -> {
            assertThat(result.getStatus()).isEqualTo(JobStatus.SUCCEEDED);
            assertThat(result.getAttempt()).isEqualTo(2);
            assertThat(result.getTurns()).isEqualTo(2);
        });
        assertThat(streamed).extracting(AgentResult::getAttempt).containsOnly(2);
    }
}
