package io.batchagent.tools.it;

import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolSpec;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.InferenceWorker;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.inference.OpenAiCompatibleClient;
import io.batchagent.schemas.Topics;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.simulator.ToolCallRule;
import io.batchagent.simulator.ToolInvocation;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.tools.ToolRegistry;
import io.batchagent.tools.ToolWorker;
import io.batchagent.tools.ToolWorkerConfig;
import io.batchagent.topology.JobCompiler;
import io.batchagent.topology.StreamsSettings;
import io.batchagent.topology.ToolCallCoalescer;
import io.batchagent.topology.TurnAssembler;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.Topology;

/**
 * The whole agent loop on a real broker: the engine simulator as the model, the three topologies,
 * an inference worker and one tool worker. The scripted model calls the tool that the job's input
 * names on a line {@code Call: <tool> <arguments JSON>} (declared or not), then answers.
 */
public final class AgentPipeline implements AutoCloseable {

    public static final String OUTPUT_SCHEMA =
            "{\"type\":\"object\",\"properties\":{\"answer\":{\"type\":\"string\"}}," + "\"required\":[\"answer\"]}";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern CALL = Pattern.compile("^Call: ([\\w-]+) (\\{.*})$", Pattern.MULTILINE);

    public final EngineSimulator simulator;
    public final Topics topics;
    public final ToolWorker toolWorker;
    private final KafkaCluster kafka;
    private final List<KafkaStreams> streams = new ArrayList<>();
    private final OpenAiCompatibleClient engine;
    private final InferenceWorker inference;
    private final KafkaIO.Reader<AgentResult> results;
    private final KafkaIO.Reader<ToolResponse> responses;

    public AgentPipeline(
            KafkaCluster kafka, TestNames names, Path stateDir, ToolWorkerConfig toolConfig, ToolRegistry registry) {
        this.kafka = kafka;
        this.topics = Topics.create(names.topicPrefix(), Map.of());
        kafka.createTopics(topics, 4);
        this.simulator = EngineSimulator.start(SimulatorOptions.builder()
                .profile("instant")
                .toolCallRule(AgentPipeline::chooseCall)
                .build());
        String app = names.applicationId();
        startStreams(app + "-jobs", JobCompiler.build(topics, Duration.ofSeconds(30)), stateDir.resolve("jobs"), names);
        startStreams(
                app + "-coalescer",
                ToolCallCoalescer.build(topics, Duration.ofSeconds(10), Duration.ofMillis(500)),
                stateDir.resolve("coalescer"),
                names);
        startStreams(app + "-assembler", TurnAssembler.build(topics), stateDir.resolve("assembler"), names);
        this.toolWorker =
                new ToolWorker(kafka.clientConfig(), topics, toolConfig.withGroupId(app + "-tools"), registry);
        toolWorker.start();
        InferenceWorkerConfig inferenceConfig =
                InferenceWorkerConfig.defaults().withGroupId(app + "-inference").withMaxInflight(16);
        this.engine = new OpenAiCompatibleClient(EngineEndpoint.parse(simulator.baseUrl()), inferenceConfig);
        this.inference = new InferenceWorker(kafka.clientConfig(), topics, inferenceConfig, engine);
        inference.start();
        await().atMost(Duration.ofSeconds(60))
                .until(() -> streams.stream().allMatch(s -> s.state() == KafkaStreams.State.RUNNING));
        this.results = new KafkaIO.Reader<>(kafka.clientConfig(), topics.results());
        this.responses = new KafkaIO.Reader<>(kafka.clientConfig(), topics.toolResponses());
    }

    /** The scripted model's choice: the tool and arguments of the input's {@code Call:} line. */
    private static Optional<ToolInvocation> chooseCall(io.batchagent.simulator.ToolCallContext context) {
        Matcher matcher = CALL.matcher(context.lastUserMessage());
        if (!matcher.find()) {
            return ToolCallRule.defaultRule().choose(context);
        }
        try {
            return Optional.of(new ToolInvocation(matcher.group(1), (ObjectNode) JSON.readTree(matcher.group(2))));
        } catch (IOException e) {
            throw new IllegalArgumentException("bad Call: line in a test input", e);
        }
    }

    private void startStreams(String applicationId, Topology topology, Path stateDir, TestNames names) {
        KafkaStreams app = new KafkaStreams(
                topology,
                StreamsSettings.defaults(applicationId, kafka.clientConfig(), names.topicPrefix())
                        .withStateDir(stateDir)
                        .toProperties());
        app.start();
        streams.add(app);
    }

    /**
     * Submits a batch whose jobs each get the message {@code Call: <tool> <arguments>} from
     * {@code calls}; returns the job ids in order.
     */
    public List<String> submit(String batchId, List<ToolSpec> tools, List<String> calls) {
        BatchSpec spec = BatchSpec.newBuilder()
                .setBatchId(batchId)
                .setModel("sim-model")
                .setSystemPrompt("You are a test agent.")
                .setTaskTemplate("{task}")
                .setTools(tools)
                .setOutputSchemaJson(OUTPUT_SCHEMA)
                .setMaxTurns(3)
                .setMaxTokens(512)
                .setExpectedJobs(calls.size())
                .setCreatedAtMs(System.currentTimeMillis())
                .build();
        KafkaIO.send(kafka.clientConfig(), topics.batchSpecs(), Map.of(batchId, spec));
        List<Map.Entry<String, AgentJob>> jobs = new ArrayList<>();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < calls.size(); i++) {
            String jobId = batchId + "-" + i;
            String input =
                    JSON.createObjectNode().put("task", "Call: " + calls.get(i)).toString();
            jobs.add(Map.entry(jobId, new AgentJob(jobId, batchId, (long) i, input, System.currentTimeMillis(), 1)));
            ids.add(jobId);
        }
        KafkaIO.sendAll(kafka.clientConfig(), topics.agentJobs(), jobs);
        return ids;
    }

    /** Waits until every job has a result; returns them by job id. */
    public Map<String, AgentResult> awaitResults(List<String> jobIds, Duration timeout) {
        await().atMost(timeout)
                .pollInterval(Duration.ofMillis(50))
                .until(() -> results.values().stream()
                        .map(AgentResult::getJobId)
                        .collect(Collectors.toSet())
                        .containsAll(jobIds));
        return results.values().stream()
                .filter(r -> jobIds.contains(r.getJobId()))
                .collect(Collectors.toMap(AgentResult::getJobId, r -> r, (a, b) -> b));
    }

    /**
     * The tool responses that agent {@code jobId} got, once there is at least one (a finished job's
     * responses are on the topic, but this reader may not have fetched them yet).
     */
    public List<ToolResponse> toolResponses(String jobId) {
        await().atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(20))
                .until(() ->
                        responses.values().stream().anyMatch(r -> r.getJobId().equals(jobId)));
        return responses.values().stream()
                .filter(r -> r.getJobId().equals(jobId))
                .toList();
    }

    @Override
    public void close() {
        results.close();
        responses.close();
        inference.close();
        engine.close();
        toolWorker.close();
        for (KafkaStreams app : streams) {
            app.close(CloseOptions.timeout(Duration.ofSeconds(10))
                    .withGroupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP));
        }
        simulator.close();
    }
}
