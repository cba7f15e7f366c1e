package io.batchagent.topology;

import static io.batchagent.topology.TopologyFixtures.TOPICS;
import static io.batchagent.topology.TopologyFixtures.finalAnswer;
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
import io.batchagent.events.JobStatus;
import io.batchagent.events.OutputRef;
import io.batchagent.events.Role;
import io.batchagent.events.ToolCallRef;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolStatus;
import io.batchagent.events.state.TurnAssembly;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
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
        driver =
                new TopologyTestDriver(TurnAssembler.build(TOPICS), TopologyFixtures.props("assembler-test", stateDir));
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
        assertThat(next.getMessages().subList(2, 4))
                .extracting(ChatMessage::getRole)
                .containsOnly(Role.TOOL);
        assertThat(next.getMessages().subList(2, 4))
                .extracting(ChatMessage::getToolCallId)
                .containsExactly("c1", "c2");
        assertThat(next.getMessages().subList(2, 4))
                .extracting(ChatMessage::getContent)
                .containsExactly("first", "second");
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
    void shouldCarryAReferencedOutputAsAReferenceInTheToolMessage() {
        OutputRef ref = OutputRef.newBuilder()
                .setTopic(TOPICS.toolResults().name())
                .setPartition(3)
                .setOffset(41)
                .setChars(8192)
                .build();
        ToolResponse referenced = response("j", 1, "c1", "");
        referenced.getResult().setOutputRef(ref);

        waits.pipeInput("j", waiting("b", "j", 1, "c1"));
        responses.pipeInput("j", referenced);

        ChatMessage tool = turns.readValue().getMessages().get(2);
        assertThat(tool.getRole()).isEqualTo(Role.TOOL);
        assertThat(tool.getToolCallId()).isEqualTo("c1");
        assertThat(tool.getContent()).isNull();
        assertThat(tool.getContentRef()).isEqualTo(ref);
    }

    @Test
    void shouldContinueAConversationFromTheMessagesItHoldsPlusTheOutcomesDelta() {
        // Turn 1 carries the whole conversation; the continuation says the assembler holds all of it.
        waits.pipeInput("j", waiting("b", "j", 1, "c1"));
        responses.pipeInput("j", response("j", 1, "c1", "first page"));
        AgentTurn second = turns.readValue();
        assertThat(second.getStoredMessages()).isEqualTo(3);

        // Turn 2's outcome carries only what its model call added: one assistant message.
        AgentTurn delta = waiting("b", "j", 2, "c2");
        delta.setMessages(List.of(delta.getMessages().get(1)));
        delta.setStoredMessages(3);
        waits.pipeInput("j", delta);
        responses.pipeInput("j", response("j", 2, "c2", "second page"));

        AgentTurn third = turns.readValue();
        assertThat(third.getStoredMessages()).isEqualTo(5);
        assertThat(third.getMessages().subList(0, 3)).isEqualTo(second.getMessages());
        assertThat(third.getMessages().get(3).getToolCalls())
                .extracting(ToolCallRef::getId)
                .containsExactly("c2");
        assertThat(third.getMessages().get(4).getContent()).isEqualTo("second page");
        KeyValueStore<String, ChatMessage> held = driver.getKeyValueStore(TurnAssembler.CONVERSATION_STORE);
        assertThat(countOf(held)).isEqualTo(5);

        // The job's end forgets its conversation.
        waits.pipeInput("j", finalAnswer("b", "j", 3, 1, JobStatus.SUCCEEDED, "{}"));
        assertThat(results.readValue().getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(countOf(held)).isZero();
    }

    @Test
    void shouldEndAJobWhoseOutcomeContinuesMessagesTheAssemblerDoesNotHold() {
        AgentTurn delta = waiting("b", "j", 2, "c2");
        delta.setMessages(List.of(delta.getMessages().get(1)));
        delta.setStoredMessages(7);

        waits.pipeInput("j", delta);
        responses.pipeInput("j", response("j", 2, "c2", "page"));

        AgentResult result = results.readValue();
        assertThat(result.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.OTHER);
        assertThat(result.getError().getMessage()).contains("holds 0 messages").contains("one of 7");
        assertThat(turns.isEmpty()).isTrue();
    }

    private static long countOf(KeyValueStore<String, ChatMessage> store) {
        try (var all = store.all()) {
            long n = 0;
            while (all.hasNext()) {
                all.next();
                n++;
            }
            return n;
        }
    }

    @Test
    void shouldPassToolErrorsToTheModelAsToolMessages() {
        ToolResponse failed = response("j", 1, "c1", "");
        failed.getResult().setStatus(ToolStatus.ERROR);
        failed.getResult().setError("boom: the tool threw");

        waits.pipeInput("j", waiting("b", "j", 1, "c1"));
        responses.pipeInput("j", failed);

        assertThat(turns.readValue().getMessages().get(2).getContent())
                .isEqualTo("ERROR (ERROR): boom: the tool threw");
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

    @Test
    void shouldCompleteARetriedJobOnItsNewAttemptWhileTheFailedAttemptsEntryIsStillStored() {
        // Attempt 1: one tool turn, then the job fails on turn 2.
        waits.pipeInput("j", waiting("b", "j", 1, "c1"));
        responses.pipeInput("j", response("j", 1, "c1", "first run"));
        assertThat(turns.readValue().getTurn()).isEqualTo(2);
        waits.pipeInput("j", finalAnswer("b", "j", 2, 1, JobStatus.FAILED, null));
        assertThat(results.readValue().getStatus()).isEqualTo(JobStatus.FAILED);
        KeyValueStore<String, TurnAssembly> store = driver.getKeyValueStore(TurnAssembler.ASSEMBLY_STORE);
        assertThat(store.get("j").getCompletedTurn()).isEqualTo(2);

        // Attempt 2 (--retry-failed) goes through the same turns again.
        waits.pipeInput("j", attempt(waiting("b", "j", 1, "c1"), 2));
        responses.pipeInput("j", attempt(response("j", 1, "c1", "second run"), 2));
        AgentTurn retried = turns.readValue();
        waits.pipeInput("j", finalAnswer("b", "j", 2, 2, JobStatus.SUCCEEDED, "{\"ok\":true}"));

        assertThat(retried.getTurn()).isEqualTo(2);
        assertThat(retried.getAttempt()).isEqualTo(2);
        assertThat(retried.getMessages().get(2).getContent()).isEqualTo("second run");
        AgentResult result = results.readValue();
        assertThat(result.getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(result.getAttempt()).isEqualTo(2);
        assertThat(results.isEmpty()).isTrue();
    }

    @Test
    void shouldDropRecordsOfAnOlderAttemptOfTheJob() {
        waits.pipeInput("j", attempt(waiting("b", "j", 1, "c1"), 2));

        responses.pipeInput("j", response("j", 1, "c1", "from attempt 1"));
        waits.pipeInput("j", finalAnswer("b", "j", 1, 1, JobStatus.FAILED, null));
        assertThat(turns.isEmpty()).isTrue();
        assertThat(results.isEmpty()).isTrue();
        responses.pipeInput("j", attempt(response("j", 1, "c1", "from attempt 2"), 2));

        AgentTurn next = turns.readValue();
        assertThat(next.getAttempt()).isEqualTo(2);
        assertThat(next.getMessages().get(2).getContent()).isEqualTo("from attempt 2");
        assertThat(metric(TurnAssembler.STALE_ATTEMPT_METRIC)).isEqualTo(2.0);
    }

    @Test
    void shouldKeepOnlyTheFirstOutcomeOfATurnWhenAReplayedWorkerAnsweredDifferently() {
        // Two copies of turn 1 (a rebalance ran it twice): the first asked for c1; the others answered, or asked for
        // c9.
        waits.pipeInput("j", waiting("b", "j", 1, "c1"));
        waits.pipeInput("j", finalAnswer("b", "j", 1, 1, JobStatus.SUCCEEDED, "{\"copy\":2}"));
        waits.pipeInput("j", waiting("b", "j", 1, "c9"));
        responses.pipeInput("j", response("j", 1, "c9", "the other copy's call"));
        responses.pipeInput("j", response("j", 1, "c1", "kept"));

        assertThat(turns.readValuesToList()).singleElement().satisfies(next -> {
            assertThat(next.getTurn()).isEqualTo(2);
            assertThat(next.getMessages()).hasSize(3);
            assertThat(next.getMessages().get(2).getContent()).isEqualTo("kept");
        });
        assertThat(results.isEmpty()).isTrue();
        assertThat(metric(TurnAssembler.DUPLICATE_OUTCOME_METRIC)).isEqualTo(2.0);
    }

    @Test
    void shouldKeepOnlyTheFirstFinalResultOfATurn() {
        waits.pipeInput("j", finalAnswer("b", "j", 1, 1, JobStatus.SUCCEEDED, "{\"answer\":1}"));
        waits.pipeInput("j", finalAnswer("b", "j", 1, 1, JobStatus.SUCCEEDED, "{\"answer\":2}"));
        waits.pipeInput("j", waiting("b", "j", 1, "c1"));
        responses.pipeInput("j", response("j", 1, "c1", "late"));

        assertThat(results.readValuesToList())
                .singleElement()
                .satisfies(result -> assertThat(result.getOutputJson()).isEqualTo("{\"answer\":1}"));
        assertThat(turns.isEmpty()).isTrue();
    }

    @Test
    void shouldIgnoreAResponseWithTheCallIdButNotTheCallHashOfAPendingCall() {
        waits.pipeInput("j", waiting("b", "j", 1, "c1"));
        ToolResponse foreign = response("j", 1, "c1", "another copy's call");
        foreign.getResult().setCallHash("hash-of-another-call");

        responses.pipeInput("j", foreign);
        assertThat(turns.isEmpty()).isTrue();
        responses.pipeInput("j", response("j", 1, "c1", "the pending call's result"));

        assertThat(turns.readValue().getMessages().get(2).getContent()).isEqualTo("the pending call's result");
    }

    @Test
    void shouldContinueATurnWithNoPendingCallsAtOnceEvenOnTheLastTurn() {
        AgentTurn repair = waiting("b", "j", 3);
        repair.setRepairs(1);

        waits.pipeInput("j", repair);

        AgentTurn next = turns.readValue();
        assertThat(next.getTurn()).isEqualTo(4);
        assertThat(next.getRepairs()).isEqualTo(1);
        assertThat(next.getMessages()).isEqualTo(repair.getMessages());
        assertThat(results.isEmpty()).isTrue();
    }

    @Test
    void shouldEndAJobStalledWhenAResultIsMissingPastItsCallsDeadlinePlusTheGrace() {
        waits.pipeInput("j", waiting("b", "j", 1, "c1", "c2"));
        responses.pipeInput("j", response("j", 1, "c1", "answered"));

        // The call's deadline (queue allowance 5 min + lookup's timeout 1 s) plus the grace of 60 s has not passed.
        driver.advanceWallClockTime(Duration.ofMinutes(6));
        assertThat(results.isEmpty()).isTrue();
        driver.advanceWallClockTime(Duration.ofMinutes(1));

        AgentResult stalled = results.readValue();
        assertThat(stalled.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(stalled.getError().getReason()).isEqualTo(ErrorReason.STALLED);
        assertThat(stalled.getError().getMessage())
                .contains("1 of 2 tool calls")
                .contains("lookup (call c2, callHash hash-c2)")
                .doesNotContain("call c1");
        assertThat(stalled.getTurns()).isEqualTo(1);
        responses.pipeInput("j", response("j", 1, "c2", "too late"));
        assertThat(turns.isEmpty()).isTrue();
        assertThat(results.isEmpty()).isTrue();
    }

    private double metric(String name) {
        return driver.metrics().entrySet().stream()
                .filter(e -> e.getKey().group().equals(TurnAssembler.METRIC_GROUP)
                        && e.getKey().name().equals(name))
                .mapToDouble(e -> ((Number) e.getValue().metricValue()).doubleValue())
                .sum();
    }

    private static AgentTurn attempt(AgentTurn turn, int attempt) {
        turn.setAttempt(attempt);
        return turn;
    }

    private static ToolResponse attempt(ToolResponse response, int attempt) {
        response.setAttempt(attempt);
        return response;
    }
}
