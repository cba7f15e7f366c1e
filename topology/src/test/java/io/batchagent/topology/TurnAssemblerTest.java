package io.batchagent.topology;

import static io.batchagent.topology.TopologyFixtures.TOPICS;
import static io.batchagent.topology.TopologyFixtures.input;
import static io.batchagent.topology.TopologyFixtures.output;
import static io.batchagent.topology.TopologyFixtures.response;
import static io.batchagent.topology.TopologyFixtures.spec;
import static io.batchagent.topology.TopologyFixtures.waiting;
import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.Role;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolStatus;
import io.batchagent.events.state.TurnAssembly;
import org.apache.kafka.streams.state.KeyValueStore;
import java.nio.file.Path;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TurnAssemblerTest {

    @TempDir
    Path stateDir;

    private TopologyTestDriver driver;
    private TestInputTopic<String, AgentTurn> waits;
    private TestInputTopic<String, ToolResponse> responses;
    private TestOutputTopic<String, AgentTurn> turns;
    private TestOutputTopic<String, AgentResult> results;

    @BeforeEach
    void setUp() {
        driver = new TopologyTestDriver(TurnAssembler.build(TOPICS), TopologyFixtures.props("assembler-test", stateDir));
        TestInputTopic<String, BatchSpec> specs = input(driver, TOPICS.batchSpecs());
        specs.pipeInput("b", spec("b", "{x}", 3));
        waits = input(driver, TOPICS.agentWaits());
        responses = input(driver, TOPICS.toolResponses());
        turns = output(driver, TOPICS.agentContinuations());
        results = output(driver, TOPICS.results());
    }

    @AfterEach
    void tearDown() {
        driver.close();
    }

    @Test
    void shouldEmitNextTurnWhenEveryCallIsAnsweredInCallOrder() {
        waits.pipeInput("j", waiting("b", "j", 1, "c1", "c2"));
        responses.pipeInput("j", response("j", 1, "c2", "second"));
        assertThat(turns.isEmpty()).isTrue();

        responses.pipeInput("j", response("j", 1, "c1", "first"));

        AgentTurn next = turns.readValue();
        assertThat(next.getTurn()).isEqualTo(2);
        assertThat(next.getPendingCalls()).isEmpty();
        assertThat(next.getMessages()).hasSize(4);
        assertThat(next.getMessages().subList(2, 4)).extracting(ChatMessage::getRole).containsOnly(Role.TOOL);
        assertThat(next.getMessages().subList(2, 4)).extracting(ChatMessage::getToolCallId).containsExactly("c1", "c2");
        assertThat(next.getMessages().subList(2, 4)).extracting(ChatMessage::getContent).containsExactly("first", "second");
        assertThat(next.getUsage().getPromptTokens()).isEqualTo(10);
    }

    @Test
    void shouldBufferResponsesThatArriveBeforeTheWaitingTurn() {
        responses.pipeInput("j", response("j", 1, "c1", "early"));
        assertThat(turns.isEmpty()).isTrue();

        waits.pipeInput("j", waiting("b", "j", 1, "c1"));

        assertThat(turns.readValue().getMessages().get(2).getContent()).isEqualTo("early");
    }

    @Test
    void shouldPassToolErrorsToTheModelAsToolMessages() {
        ToolResponse failed = response("j", 1, "c1", "");
        failed.getResult().setStatus(ToolStatus.ERROR);
        failed.getResult().setError("boom: the tool threw");

        waits.pipeInput("j", waiting("b", "j", 1, "c1"));
        responses.pipeInput("j", failed);

        assertThat(turns.readValue().getMessages().get(2).getContent()).isEqualTo("ERROR (ERROR): boom: the tool threw");
    }

    @Test
    void shouldDropLateDuplicatesOfAnAssembledTurn() {
        waits.pipeInput("j", waiting("b", "j", 1, "c1"));
        responses.pipeInput("j", response("j", 1, "c1", "once"));
        turns.readValue();

        responses.pipeInput("j", response("j", 1, "c1", "again"));
        waits.pipeInput("j", waiting("b", "j", 1, "c1"));

        assertThat(turns.isEmpty()).isTrue();
        assertThat(results.isEmpty()).isTrue();
    }

    @Test
    void shouldFailWhenToolsAreAskedForOnTheLastTurn() {
        waits.pipeInput("j", waiting("b", "j", 3, "c1"));
        responses.pipeInput("j", response("j", 3, "c1", "too late"));

        AgentResult failed = results.readValue();
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.MAX_TURNS_EXCEEDED);
        assertThat(failed.getError().getMessage()).contains("all 3 turns");
        assertThat(failed.getTurns()).isEqualTo(3);
        assertThat(turns.isEmpty()).isTrue();
    }

    @Test
    void shouldEndTheAgentCancelledInsteadOfStartingANextTurn() {
        BatchSpec cancelled = spec("b", "{x}", 3);
        cancelled.setCancelled(true);
        input(driver, TOPICS.batchSpecs()).pipeInput("b", cancelled);

        waits.pipeInput("j", waiting("b", "j", 1, "c1"));
        responses.pipeInput("j", response("j", 1, "c1", "done"));

        AgentResult result = results.readValue();
        assertThat(result.getStatus()).isEqualTo(io.batchagent.events.JobStatus.CANCELLED);
        assertThat(turns.isEmpty()).isTrue();
    }

    @Test
    void shouldFailAnAgentPastItsDeadline() {
        BatchSpec timed = spec("b", "{x}", 3);
        timed.setDeadlineMs(5_000);
        input(driver, TOPICS.batchSpecs()).pipeInput("b", timed);
        AgentTurn waitingTurn = waiting("b", "j", 1, "c1");
        waitingTurn.setSubmittedAtMs(System.currentTimeMillis() - 10_000);

        waits.pipeInput("j", waitingTurn);
        responses.pipeInput("j", response("j", 1, "c1", "late"));

        AgentResult result = results.readValue();
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.TIMEOUT);
        assertThat(result.getError().getMessage()).contains("deadline of 5000 ms");
    }

    @Test
    void shouldDropAnAssembledJobsEntryAfterTheRetention() {
        waits.pipeInput("j", waiting("b", "j", 1, "c1"));
        responses.pipeInput("j", response("j", 1, "c1", "done"));
        turns.readValue();
        KeyValueStore<String, TurnAssembly> store = driver.getKeyValueStore(TurnAssembler.ASSEMBLY_STORE);
        assertThat(store.get("j").getCompletedTurn()).isEqualTo(1);

        driver.advanceWallClockTime(java.time.Duration.ofMinutes(61));

        assertThat(store.get("j")).isNull();
    }
}
