package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.events.AgentResult;
import io.batchagent.events.CompactionMode;
import io.batchagent.events.CompactionPolicy;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.schemas.serde.EventSerdes;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * Long agents on a small context, end to end (issue 13): the scripted model calls an 8 KB tool for
 * {@value #TOOL_TURNS} turns before answering, on a {@value #CONTEXT_TOKENS}-token context that the
 * simulator enforces as SGLang does. The shape of the 200 agents x 30 turns x 8 KB on a 32k
 * context (tool output far beyond the context window), shrunk so the test stays lean: fewer agents, fewer
 * turns, a smaller window. The three batches, one per compaction mode, run at once on one pipeline.
 */
@WithKafka
class CompactionIT {

    private static final int AGENTS = 4;
    private static final int TOOL_TURNS = 10;
    private static final int CONTEXT_TOKENS = 10_240;

    @TempDir
    Path stateDir;

    @Test
    void shouldFailEveryLongAgentClearlyWithoutCompactionAndFinishEveryOneWithIt(KafkaCluster kafka, TestInfo info)
            throws Exception {
        try (PipelineFixture fixture = PipelineFixture.start(
                kafka,
                TestNames.of(info),
                stateDir,
                SimulatorOptions.builder()
                        .profile("instant")
                        .toolTurns(TOOL_TURNS)
                        .contextTokens(CONTEXT_TOKENS),
                c -> c.withMaxInflight(8))) {
            List<BatchClient.Submission> submissions = new ArrayList<>();
            for (CompactionMode mode : CompactionMode.values()) {
                submissions.add(fixture.client.submit(
                        "long-" + mode.name().toLowerCase(java.util.Locale.ROOT), definition(mode)));
            }

            // Nothing wedges: every job of every mode ends.
            List<AgentResult> none = fixture.client.await(submissions.get(0).jobIds(), r -> {}, Duration.ofMinutes(4));
            List<AgentResult> truncate =
                    fixture.client.await(submissions.get(1).jobIds(), r -> {}, Duration.ofMinutes(4));
            List<AgentResult> summarize =
                    fixture.client.await(submissions.get(2).jobIds(), r -> {}, Duration.ofMinutes(4));

            assertThat(none).hasSize(AGENTS).allSatisfy(result -> {
                assertThat(result.getStatus()).isEqualTo(JobStatus.FAILED);
                assertThat(result.getError().getReason()).isEqualTo(ErrorReason.CONTEXT_EXHAUSTED);
                assertThat(result.getError().getMessage())
                        .contains("prompt tokens (estimated), over the model's " + CONTEXT_TOKENS
                                + "-token context window")
                        .contains("compaction is off (mode NONE)");
                assertThat(result.getTurns()).isBetween(2, TOOL_TURNS);
                assertThat(result.getCompactions()).isEmpty();
            });
            for (List<AgentResult> compacted : List.of(truncate, summarize)) {
                CompactionMode mode = compacted == truncate ? CompactionMode.TRUNCATE : CompactionMode.SUMMARIZE;
                assertThat(compacted).hasSize(AGENTS).allSatisfy(result -> {
                    assertThat(result.getStatus())
                            .as(mode + ": " + result.getError())
                            .isEqualTo(JobStatus.SUCCEEDED);
                    assertThat(result.getTurns()).isEqualTo(TOOL_TURNS + 1);
                    assertThat(result.getToolCallsRequested()).isEqualTo(TOOL_TURNS);
                    assertThat(result.getCompactions()).isNotEmpty().allSatisfy(c -> {
                        assertThat(c.getMode()).as(c.getDetail()).isEqualTo(mode);
                        assertThat(c.getTokensAfter()).isLessThan(c.getTokensBefore());
                    });
                    int summaryCalls = mode == CompactionMode.SUMMARIZE
                            ? result.getCompactions().size()
                            : 0;
                    assertThat(result.getUsage().getModelCalls()).isEqualTo(TOOL_TURNS + 1 + summaryCalls);
                });
            }
        }
    }

    private static BatchDefinition definition(CompactionMode mode) {
        EventSerdes.trustEventClasses();
        List<String> inputs = IntStream.range(0, AGENTS)
                .mapToObj(i -> "{\"topic\":\"long agent " + mode + " " + i + "\"}")
                .toList();
        CompactionPolicy policy = mode == CompactionMode.NONE
                ? null
                : CompactionPolicy.newBuilder().setMode(mode).build();
        return new BatchDefinition(
                "You are a test agent that reads many pages.",
                "Topic: {topic}",
                inputs,
                List.of(BulkyTool.spec()),
                PipelineFixture.SCHEMA,
                "sim-model",
                TOOL_TURNS + 1,
                256,
                CONTEXT_TOKENS,
                0,
                2,
                policy);
    }
}
