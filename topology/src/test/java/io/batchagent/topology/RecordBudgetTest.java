package io.batchagent.topology;

import static io.batchagent.topology.TopologyFixtures.SMALL_TOPICS;
import static io.batchagent.topology.TopologyFixtures.input;
import static io.batchagent.topology.TopologyFixtures.output;
import static io.batchagent.topology.TopologyFixtures.response;
import static io.batchagent.topology.TopologyFixtures.spec;
import static io.batchagent.topology.TopologyFixtures.text;
import static io.batchagent.topology.TopologyFixtures.waiting;
import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.state.TurnAssembly;
import java.nio.file.Path;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The turn assembler never writes a turn or a store entry over the record budget (48 KiB values here). */
class RecordBudgetTest {

    private static final int LIMIT = SMALL_TOPICS.limits().maxValueBytes();

    @TempDir
    Path stateDir;

    private TopologyTestDriver driver;
    private TestInputTopic<String, AgentTurn> waits;
    private TestInputTopic<String, ToolResponse> responses;
    private TestOutputTopic<String, AgentTurn> turns;
    private TestOutputTopic<String, AgentResult> results;

    @BeforeEach
    void setUp() {
        driver = new TopologyTestDriver(
                TurnAssembler.build(SMALL_TOPICS),
                TopologyFixtures.smallBudgetProps("assembler-budget-test", stateDir));
        input(driver, SMALL_TOPICS.batchSpecs()).pipeInput("b", spec("b", "{x}", 5));
        waits = input(driver, SMALL_TOPICS.agentWaits());
        responses = input(driver, SMALL_TOPICS.toolResponses());
        turns = output(driver, SMALL_TOPICS.agentContinuations());
        results = output(driver, SMALL_TOPICS.results());
    }

    @AfterEach
    void tearDown() {
        driver.close();
    }

    @Test
    void shouldFailTheJobRecordTooLargeWhenItsNextTurnWouldExceedTheBudget() {
        waits.pipeInput("j", waiting("b", "j", 1, "c1", "c2"));
        responses.pipeInput("j", response("j", 1, "c1", text(20_000)));

        responses.pipeInput("j", response("j", 1, "c2", text(30_000)));

        assertThat(turns.isEmpty()).isTrue();
        AgentResult failed = results.readValue();
        assertThat(failed.getJobId()).isEqualTo("j");
        assertThat(failed.getBatchId()).isEqualTo("b");
        assertThat(failed.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.RECORD_TOO_LARGE);
        assertThat(failed.getError().getMessage())
                .contains("turn 2")
                .contains("over the record limit of " + LIMIT + " bytes")
                .containsPattern("is 5\\d{4} bytes serialized");
        assertThat(failed.getTurns()).isEqualTo(1);
        assertThat(storedEntry("j").getWaiting()).isNull();

        responses.pipeInput("j", response("j", 1, "c2", "a late duplicate"));
        assertThat(turns.isEmpty()).isTrue();
        assertThat(results.isEmpty()).isTrue();
    }

    @Test
    void shouldFailTheJobWhenTheResultsItWaitsForOutgrowTheBudgetBeforeTheLastArrives() {
        waits.pipeInput("j", waiting("b", "j", 1, "c1", "c2", "c3"));
        responses.pipeInput("j", response("j", 1, "c1", text(25_000)));

        responses.pipeInput("j", response("j", 1, "c2", text(25_000)));

        AgentResult failed = results.readValue();
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.RECORD_TOO_LARGE);
        assertThat(failed.getError().getMessage())
                .contains("the tool results it waits for")
                .contains("over the record limit of " + LIMIT + " bytes");
        TurnAssembly entry = storedEntry("j");
        assertThat(entry.getWaiting()).isNull();
        assertThat(entry.getResponses()).isEmpty();
        assertThat(entry.getCompletedTurn()).isEqualTo(1);

        responses.pipeInput("j", response("j", 1, "c3", "the last one, too late"));
        assertThat(turns.isEmpty()).isTrue();
        assertThat(results.isEmpty()).isTrue();
    }

    @Test
    void shouldEmitTheNextTurnWhenItFitsTheBudget() {
        waits.pipeInput("j", waiting("b", "j", 1, "c1", "c2"));
        responses.pipeInput("j", response("j", 1, "c1", text(20_000)));

        responses.pipeInput("j", response("j", 1, "c2", text(20_000)));

        assertThat(turns.readValue().getTurn()).isEqualTo(2);
        assertThat(results.isEmpty()).isTrue();
    }

    private TurnAssembly storedEntry(String jobId) {
        KeyValueStore<String, TurnAssembly> store = driver.getKeyValueStore(TurnAssembler.ASSEMBLY_STORE);
        return store.get(jobId);
    }
}
