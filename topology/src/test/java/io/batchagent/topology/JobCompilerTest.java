package io.batchagent.topology;

import static io.batchagent.topology.TopologyFixtures.TOPICS;
import static io.batchagent.topology.TopologyFixtures.input;
import static io.batchagent.topology.TopologyFixtures.job;
import static io.batchagent.topology.TopologyFixtures.output;
import static io.batchagent.topology.TopologyFixtures.spec;
import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.events.Role;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobCompilerTest {

    @TempDir
    Path stateDir;

    private TopologyTestDriver driver;
    private TestInputTopic<String, BatchSpec> specs;
    private TestInputTopic<String, AgentJob> jobs;
    private TestOutputTopic<String, AgentTurn> turns;
    private TestOutputTopic<String, AgentResult> results;
    private java.time.Instant driverStart;

    @BeforeEach
    void setUp() {
        // The driver's wall clock starts here; a job submitted "now" is submitted at this instant, however
        // long the machine takes to reach the test body.
        driverStart = java.time.Instant.now();
        driver = new TopologyTestDriver(
                JobCompiler.build(TOPICS, Duration.ofSeconds(10)),
                TopologyFixtures.props("job-compiler-test", stateDir),
                driverStart);
        specs = input(driver, TOPICS.batchSpecs());
        jobs = input(driver, TOPICS.agentJobs());
        turns = output(driver, TOPICS.agentTurns());
        results = output(driver, TOPICS.results());
    }

    @AfterEach
    void tearDown() {
        driver.close();
    }

    @Test
    void shouldRenderFirstTurnWithOnlyThePerJobInput() {
        specs.pipeInput("b", spec("b", "Paper: {paper}\nTopic: {topic}", 3));

        jobs.pipeInput("b-0", job("b", 0, "{\"paper\":\"1706.03762\",\"topic\":\"attention\"}"));

        AgentTurn turn = turns.readValue();
        assertThat(turn.getJobId()).isEqualTo("b-0");
        assertThat(turn.getTurn()).isEqualTo(1);
        assertThat(turn.getMessages()).hasSize(1);
        assertThat(turn.getMessages().get(0).getRole()).isEqualTo(Role.USER);
        assertThat(turn.getMessages().get(0).getContent()).isEqualTo("Paper: 1706.03762\nTopic: attention");
        assertThat(turn.getMessages().get(0).getContent()).doesNotContain("You are a test.");
        assertThat(results.isEmpty()).isTrue();
    }

    @Test
    void shouldFailOnlyTheJobWithAMissingTemplateVariable() {
        specs.pipeInput("b", spec("b", "Paper: {paper}", 3));

        jobs.pipeInput("b-0", job("b", 0, "{\"title\":\"no paper here\"}"));
        jobs.pipeInput("b-1", job("b", 1, "{\"paper\":\"x\"}"));

        AgentResult failed = results.readValue();
        assertThat(failed.getJobId()).isEqualTo("b-0");
        assertThat(failed.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.MISSING_TEMPLATE_VARIABLE);
        assertThat(failed.getError().getMessage()).contains("'paper'").contains("title");
        assertThat(turns.readValue().getJobId()).isEqualTo("b-1");
    }

    @Test
    void shouldWaitForALateSpecThenCompile() {
        jobs.pipeInput("b-0", job("b", 0, "{\"paper\":\"x\"}"));
        assertThat(turns.isEmpty()).isTrue();

        specs.pipeInput("b", spec("b", "Paper: {paper}", 3));
        driver.advanceWallClockTime(Duration.ofSeconds(1));

        assertThat(turns.readValue().getMessages().get(0).getContent()).isEqualTo("Paper: x");
        assertThat(results.isEmpty()).isTrue();
    }

    @Test
    void shouldFailUnknownBatchOnWallClockWithoutNewRecords() {
        AgentJob job = job("nope", 0, "{}");
        job.setSubmittedAtMs(driverStart.toEpochMilli());
        jobs.pipeInput("nope-0", job);

        driver.advanceWallClockTime(Duration.ofSeconds(5));
        assertThat(results.isEmpty()).isTrue();
        driver.advanceWallClockTime(Duration.ofSeconds(6));

        AgentResult failed = results.readValue();
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.UNKNOWN_BATCH);
        assertThat(failed.getError().getMessage()).contains("'nope'");
    }

    @Test
    void shouldSkipAnUndecodableJobAndCompileTheNext() {
        // TopologyTestDriver drops KIP-1034 dead-letter records; DeadLetterHandlerTest covers them.
        specs.pipeInput("b", spec("b", "Paper: {paper}", 3));
        TestInputTopic<String, byte[]> raw =
                driver.createInputTopic(TOPICS.agentJobs().name(), new StringSerializer(), new ByteArraySerializer());

        raw.pipeInput("b-7", "this is not avro".getBytes(StandardCharsets.UTF_8));
        jobs.pipeInput("b-8", job("b", 8, "{\"paper\":\"ok\"}"));

        assertThat(turns.readValue().getJobId()).isEqualTo("b-8");
        assertThat(turns.isEmpty()).isTrue();
    }

    @Test
    void shouldRenderHoistedVariablesAsAReferenceInsteadOfRepeatingThem() {
        BatchSpec spec = spec("b", "Corpus: {corpus}\nPaper: {paper}", 3);
        spec.setHoistedVariables(java.util.List.of("corpus"));
        specs.pipeInput("b", spec);

        jobs.pipeInput("b-0", job("b", 0, "{\"paper\":\"x\"}"));

        assertThat(turns.readValue().getMessages().get(0).getContent())
                .isEqualTo("Corpus: (the shared corpus given in the system prompt)\nPaper: x");
    }

    @Test
    void shouldFailAnOversizedJobWithoutAnEngineCall() {
        BatchSpec spec = spec("b", "Paper: {paper}", 3);
        spec.setContextTokens(2_000);
        spec.setMaxTokens(1_000);
        specs.pipeInput("b", spec);

        jobs.pipeInput("b-0", job("b", 0, "{\"paper\":\"" + "long text ".repeat(400) + "\"}"));
        jobs.pipeInput("b-1", job("b", 1, "{\"paper\":\"short\"}"));

        AgentResult failed = results.readValue();
        assertThat(failed.getJobId()).isEqualTo("b-0");
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.OVERSIZED);
        assertThat(failed.getError().getMessage())
                .contains("context of 2000 tokens")
                .contains("1000 reserved");
        assertThat(turns.readValue().getJobId()).isEqualTo("b-1");
    }

    @Test
    void shouldCancelJobsOfACancelledBatch() {
        BatchSpec spec = spec("b", "Paper: {paper}", 3);
        spec.setCancelled(true);
        specs.pipeInput("b", spec);

        jobs.pipeInput("b-0", job("b", 0, "{\"paper\":\"x\"}"));

        AgentResult cancelled = results.readValue();
        assertThat(cancelled.getStatus()).isEqualTo(JobStatus.CANCELLED);
        assertThat(cancelled.getError().getReason()).isEqualTo(ErrorReason.CANCELLED);
        assertThat(turns.isEmpty()).isTrue();
    }

    @Test
    void shouldCarryTheJobsAttemptIntoItsFirstTurnAndItsFailure() {
        specs.pipeInput("b", spec("b", "Paper: {paper}", 3));
        AgentJob retried = job("b", 0, "{\"paper\":\"x\"}");
        retried.setAttempt(3);
        AgentJob broken = job("b", 1, "{}");
        broken.setAttempt(2);

        jobs.pipeInput("b-0", retried);
        jobs.pipeInput("b-1", broken);

        assertThat(turns.readValue().getAttempt()).isEqualTo(3);
        AgentResult failed = results.readValue();
        assertThat(failed.getError().getReason()).isEqualTo(ErrorReason.MISSING_TEMPLATE_VARIABLE);
        assertThat(failed.getAttempt()).isEqualTo(2);
    }
}
