package io.batchagent.tools.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import io.batchagent.tools.ToolRegistry;
import io.batchagent.tools.ToolWorkerConfig;
import io.batchagent.tools.mcp.McpServerConfig;
import io.modelcontextprotocol.spec.McpSchema;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/** Agents, run end to end by the engine simulator, using MCP tools, undeclared tools and bad arguments. */
@WithKafka
class AgentToolsIT {

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final ToolSpec ECHO = ToolSpec.newBuilder()
            .setName("echo")
            .setDescription("Returns the text.")
            .setParametersJson(
                    "{\"properties\":{\"text\":{\"type\":\"string\"}},\"required\":[\"text\"],\"type\":\"object\"}")
            .build();

    @TempDir
    static Path stateDir;

    private static AgentPipeline pipeline;

    @BeforeAll
    static void start(KafkaCluster kafka, TestInfo info) {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        McpServerConfig textTools = McpServerConfig.stdio(
                "texttools",
                List.of(
                        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-Xmx128m",
                        "-XX:TieredStopAtLevel=1",
                        "-Dlogback.configurationFile=logback-child.xml",
                        "-cp",
                        classPath,
                        TextToolsMcpServer.class.getName()),
                Map.of());
        pipeline = new AgentPipeline(
                kafka,
                TestNames.of(info),
                stateDir,
                ToolWorkerConfig.defaults().withMcpServers(List.of(textTools)),
                ToolRegistry.builder().discover().build());
    }

    @AfterAll
    static void stop() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    @Test
    void shouldListTheToolsOfAnMcpServerStartedOverStdioAndLetAnAgentCallOne() {
        List<McpSchema.Tool> listed = pipeline.toolWorker.mcpServers().listTools("texttools");
        assertThat(listed).extracting(McpSchema.Tool::name).containsExactly("shout", "word_count");
        List<ToolSpec> declared = pipeline.toolWorker.mcpServers().describe("texttools");
        assertThat(declared).allSatisfy(spec -> assertThat(spec.getMcpServer()).isEqualTo("texttools"));
        assertThat(declared)
                .filteredOn(spec -> spec.getName().equals("word_count"))
                .singleElement()
                .satisfies(spec -> assertThat(spec.getParametersJson())
                        .contains("\"text\"")
                        .contains("\"required\""));

        List<String> jobs = pipeline.submit(
                "mcp",
                declared,
                List.of("word_count {\"text\":\"one two three four\"}", "shout {\"text\":\"quiet please\"}"));

        Map<String, AgentResult> results = pipeline.awaitResults(jobs, WAIT);
        assertThat(results.values()).extracting(AgentResult::getStatus).containsOnly(JobStatus.SUCCEEDED);
        assertThat(results.values()).extracting(AgentResult::getTurns).containsOnly(2);
        assertThat(onlyResponse(jobs.get(0)).getResult().getOutput()).isEqualTo("4 words");
        assertThat(onlyResponse(jobs.get(1)).getResult().getOutput()).isEqualTo("QUIET PLEASE");
        assertThat(pipeline.toolWorker.counters().executions("word_count")).isEqualTo(1);
    }

    @Test
    void shouldAnswerACallToAnUndeclaredToolWithAnErrorNamingTheAllowedToolsAndGoOn() {
        List<String> jobs = pipeline.submit(
                "undeclared",
                List.of(ECHO),
                List.of("read_file {\"path\":\"/etc/passwd\"}", "echo {\"text\":\"fine\"}"));

        Map<String, AgentResult> results = pipeline.awaitResults(jobs, WAIT);

        assertThat(results.values()).extracting(AgentResult::getStatus).containsOnly(JobStatus.SUCCEEDED);
        ToolResponse refused = onlyResponse(jobs.get(0));
        assertThat(refused.getResult().getStatus()).isEqualTo(ToolStatus.ERROR);
        assertThat(refused.getResult().getError()).contains("read_file").contains("echo");
        assertThat(onlyResponse(jobs.get(1)).getResult().getOutput()).isEqualTo("fine");
        assertThat(pipeline.toolWorker.counters().executions("read_file")).isZero();
    }

    @Test
    void shouldAnswerArgumentsThatBreakTheSchemaWithAnErrorTheModelCanCorrectAndGoOn() {
        List<String> jobs = pipeline.submit(
                "bad-arguments", List.of(ECHO), List.of("echo {\"text\":42}", "echo {\"words\":\"no text\"}"));

        Map<String, AgentResult> results = pipeline.awaitResults(jobs, WAIT);

        assertThat(results.values()).extracting(AgentResult::getStatus).containsOnly(JobStatus.SUCCEEDED);
        ToolResponse wrongType = onlyResponse(jobs.get(0));
        assertThat(wrongType.getResult().getStatus()).isEqualTo(ToolStatus.ERROR);
        assertThat(wrongType.getResult().getError())
                .startsWith("the arguments of tool 'echo' do not match its parameters schema: ")
                .contains("$.text")
                .contains("integer")
                .endsWith("Call it again with arguments that do.");
        assertThat(wrongType.getResult().getExecuted()).isFalse();
        assertThat(onlyResponse(jobs.get(1)).getResult().getError())
                .contains("required")
                .contains("text");
    }

    private static ToolResponse onlyResponse(String jobId) {
        List<ToolResponse> responses = pipeline.toolResponses(jobId);
        assertThat(responses).as("tool responses of %s", jobId).hasSize(1);
        return responses.get(0);
    }
}
