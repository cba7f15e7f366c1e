package io.batchagent.topology;

import static io.batchagent.topology.TopologyFixtures.SMALL_TOPICS;
import static io.batchagent.topology.TopologyFixtures.input;
import static io.batchagent.topology.TopologyFixtures.job;
import static io.batchagent.topology.TopologyFixtures.output;
import static io.batchagent.topology.TopologyFixtures.spec;
import static io.batchagent.topology.TopologyFixtures.text;
import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.schemas.JobHeaders;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A record a topology cannot write (here: a first turn over the 48 KiB value budget) ends its job FAILED
 * through {@link ProductionFailureHandler}, with a dead letter, and the topology goes on with the next job.
 */
class ProductionFailureTopologyTest {

    @TempDir
    Path stateDir;

    @Test
    void shouldFailOnlyTheJobWhoseFirstTurnExceedsTheBudgetAndGoOn() {
        try (TopologyTestDriver driver = new TopologyTestDriver(
                JobCompiler.build(SMALL_TOPICS, Duration.ofSeconds(10)),
                TopologyFixtures.smallBudgetProps("compiler-budget-test", stateDir))) {
            input(driver, SMALL_TOPICS.batchSpecs()).pipeInput("b", spec("b", "{a} and again {a}", 3));
            TestOutputTopic<String, AgentTurn> turns = output(driver, SMALL_TOPICS.agentTurns());
            TestOutputTopic<String, AgentResult> results = output(driver, SMALL_TOPICS.results());
            TestOutputTopic<String, DeadLetter> deadLetters = output(driver, SMALL_TOPICS.deadLetters());

            input(driver, SMALL_TOPICS.agentJobs()).pipeInput("b-0", job("b", 0, "{\"a\":\"" + text(30_000) + "\"}"));
            input(driver, SMALL_TOPICS.agentJobs()).pipeInput("b-1", job("b", 1, "{\"a\":\"small\"}"));

            List<TestRecord<String, AgentTurn>> written = turns.readRecordsToList();
            assertThat(written).extracting(TestRecord::key).containsExactly("b-1");
            assertThat(new String(
                            written.get(0)
                                    .headers()
                                    .lastHeader(JobHeaders.BATCH_ID)
                                    .value(),
                            StandardCharsets.UTF_8))
                    .isEqualTo("b");
            AgentResult failed = results.readValue();
            assertThat(failed.getJobId()).isEqualTo("b-0");
            assertThat(failed.getBatchId()).isEqualTo("b");
            assertThat(failed.getStatus()).isEqualTo(JobStatus.FAILED);
            assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.RECORD_TOO_LARGE);
            assertThat(failed.getError().getMessage())
                    .contains(SMALL_TOPICS.agentTurns().name())
                    .containsPattern("is 6\\d{4} bytes serialized, over the limit of "
                            + SMALL_TOPICS.limits().maxValueBytes() + " bytes");
            DeadLetter letter = deadLetters.readValue();
            assertThat(letter.getTopic()).isEqualTo(SMALL_TOPICS.agentTurns().name());
            assertThat(letter.getExceptionClass()).endsWith("OversizedRecordException");
            assertThat(results.isEmpty()).isTrue();
        }
    }
}
