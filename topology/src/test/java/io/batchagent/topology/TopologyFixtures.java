package io.batchagent.topology;

import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.JobStatus;
import io.batchagent.events.Role;
import io.batchagent.events.Timings;
import io.batchagent.events.ToolCallRef;
import io.batchagent.events.ToolRequest;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.events.Usage;
import io.batchagent.schemas.CallHash;
import io.batchagent.schemas.RecordLimits;
import io.batchagent.schemas.Topics;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;

/** Test data and driver plumbing shared by the topology tests. */
final class TopologyFixtures {

    static final Topics TOPICS = Topics.defaults();

    /** A record budget small enough to reach in a test: values may have up to 48 KiB. */
    static final Map<String, Object> SMALL_BUDGET = Map.of(RecordLimits.MAX_RECORD_BYTES_CONFIG, 64 * 1024);

    static final Topics SMALL_TOPICS = Topics.create("", SMALL_BUDGET);

    private TopologyFixtures() {}

    static Properties props(String appId, Path stateDir) {
        return StreamsSettings.defaults(appId, Map.of("bootstrap.servers", "unused:9092"), "")
                .withStateDir(stateDir)
                .toProperties();
    }

    /** Driver properties under {@link #SMALL_BUDGET}. */
    static Properties smallBudgetProps(String appId, Path stateDir) {
        return StreamsSettings.defaults(appId, Map.of("bootstrap.servers", "unused:9092"), "")
                .withSerdeConfig(SMALL_BUDGET)
                .withStateDir(stateDir)
                .toProperties();
    }

    /** {@code n} characters of text. */
    static String text(int n) {
        return "x".repeat(n);
    }

    static <V> TestInputTopic<String, V> input(TopologyTestDriver driver, Topics.Topic<String, V> topic) {
        return driver.createInputTopic(
                topic.name(), topic.keySerde().serializer(), topic.valueSerde().serializer());
    }

    static <V> TestOutputTopic<String, V> output(TopologyTestDriver driver, Topics.Topic<String, V> topic) {
        return driver.createOutputTopic(
                topic.name(),
                topic.keySerde().deserializer(),
                topic.valueSerde().deserializer());
    }

    static ToolSpec tool(String name) {
        return ToolSpec.newBuilder()
                .setName(name)
                .setDescription("a test tool")
                .setParametersJson("{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}")
                .setTimeoutMs(1_000)
                .build();
    }

    static BatchSpec spec(String batchId, String template, int maxTurns) {
        return BatchSpec.newBuilder()
                .setBatchId(batchId)
                .setModel("sim-model")
                .setSystemPrompt("You are a test.")
                .setTaskTemplate(template)
                .setTools(List.of(tool("lookup")))
                .setMaxTurns(maxTurns)
                .build();
    }

    static AgentJob job(String batchId, int index, String inputJson) {
        return new AgentJob(batchId + "-" + index, batchId, (long) index, inputJson, 1_000L, 1);
    }

    static ToolRequest request(String jobId, int turn, String callId, String query) {
        String args = CallHash.canonicalJson("{\"q\":\"" + query + "\"}");
        return ToolRequest.newBuilder()
                .setCallHash(CallHash.ofCanonical("lookup", args))
                .setJobId(jobId)
                .setBatchId("b")
                .setTurn(turn)
                .setCallId(callId)
                .setTool(tool("lookup"))
                .setArgumentsJson(args)
                .setRequestedAtMs(1_000L)
                .build();
    }

    static ToolResult ok(String callHash, String output) {
        return ToolResult.newBuilder()
                .setCallHash(callHash)
                .setTool("lookup")
                .setStatus(ToolStatus.OK)
                .setOutput(output)
                .setStartedAtMs(1L)
                .setFinishedAtMs(2L)
                .build();
    }

    static AgentTurn waiting(String batchId, String jobId, int turn, String... callIds) {
        List<ToolCallRef> calls = java.util.Arrays.stream(callIds)
                .map(id -> new ToolCallRef(id, "lookup", "{\"q\":\"" + id + "\"}", "hash-" + id))
                .toList();
        return AgentTurn.newBuilder()
                .setJobId(jobId)
                .setBatchId(batchId)
                .setIndex(0)
                .setTurn(turn)
                .setMessages(List.of(
                        ChatMessage.newBuilder()
                                .setRole(Role.USER)
                                .setContent("question")
                                .build(),
                        ChatMessage.newBuilder()
                                .setRole(Role.ASSISTANT)
                                .setToolCalls(calls)
                                .build()))
                .setPendingCalls(calls)
                .setUsage(Usage.newBuilder().setPromptTokens(10).build())
                .setTimings(Timings.newBuilder().build())
                .setSubmittedAtMs(0L)
                .setEmittedAtMs(1_000L)
                .setToolCallsRequested(callIds.length)
                .build();
    }

    static ToolResponse response(String jobId, int turn, String callId, String output) {
        return new ToolResponse(jobId, turn, callId, ok("hash-" + callId, output), false, 1);
    }

    /** What an inference worker sends to agent-waits when model call {@code turn} gave the job's final answer. */
    static AgentTurn finalAnswer(
            String batchId, String jobId, int turn, int attempt, JobStatus status, String outputJson) {
        AgentResult result = AgentResult.newBuilder()
                .setJobId(jobId)
                .setBatchId(batchId)
                .setIndex(0)
                .setStatus(status)
                .setOutputJson(outputJson)
                .setTurns(turn)
                .setUsage(Usage.newBuilder().build())
                .setTimings(Timings.newBuilder().build())
                .setFinishedAtMs(2_000L)
                .setAttempt(attempt)
                .build();
        return AgentTurn.newBuilder()
                .setJobId(jobId)
                .setBatchId(batchId)
                .setIndex(0)
                .setTurn(turn)
                .setAttempt(attempt)
                .setMessages(List.of())
                .setUsage(Usage.newBuilder().build())
                .setTimings(Timings.newBuilder().build())
                .setSubmittedAtMs(0L)
                .setEmittedAtMs(2_000L)
                .setFinalResult(result)
                .build();
    }
}
