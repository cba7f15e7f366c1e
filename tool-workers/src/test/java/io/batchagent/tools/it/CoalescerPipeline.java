package io.batchagent.tools.it;

import static org.awaitility.Awaitility.await;

import io.batchagent.events.ToolRequest;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolSpec;
import io.batchagent.schemas.CallHash;
import io.batchagent.schemas.Topics;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.tools.ToolRegistry;
import io.batchagent.tools.ToolWorker;
import io.batchagent.tools.ToolWorkerConfig;
import io.batchagent.topology.StreamsSettings;
import io.batchagent.topology.ToolCallCoalescer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.Topology;

/**
 * The tool half of the pipeline on a real broker: the coalescer topology and one tool worker. Tests
 * put ToolRequests in and read the ToolResponses each waiting agent gets.
 */
public final class CoalescerPipeline implements AutoCloseable {

    public final Topics topics;
    public final ToolWorker worker;
    private final KafkaCluster kafka;
    private final KafkaStreams coalescer;
    private final KafkaIO.Reader<ToolResponse> responses;

    public CoalescerPipeline(
            KafkaCluster kafka, TestNames names, Path stateDir, ToolWorkerConfig config, ToolRegistry registry) {
        this(
                kafka,
                names,
                stateDir,
                config,
                registry,
                topics -> ToolCallCoalescer.build(topics, Duration.ofSeconds(5), Duration.ofMillis(200)));
    }

    /** @param coalescerTopology builds the coalescer over the pipeline's topics (to choose its timings) */
    public CoalescerPipeline(
            KafkaCluster kafka,
            TestNames names,
            Path stateDir,
            ToolWorkerConfig config,
            ToolRegistry registry,
            Function<Topics, Topology> coalescerTopology) {
        this.kafka = kafka;
        this.topics = Topics.create(names.topicPrefix(), Map.of());
        kafka.createTopics(topics, 4);
        this.coalescer = new KafkaStreams(
                coalescerTopology.apply(topics),
                StreamsSettings.defaults(
                                names.applicationId() + "-coalescer", kafka.clientConfig(), names.topicPrefix())
                        .withStateDir(stateDir)
                        .toProperties());
        coalescer.start();
        this.worker = new ToolWorker(
                kafka.clientConfig(), topics, config.withGroupId(names.applicationId() + "-tools"), registry);
        worker.start();
        await().atMost(Duration.ofSeconds(60)).until(() -> coalescer.state() == KafkaStreams.State.RUNNING);
        this.responses = new KafkaIO.Reader<>(kafka.clientConfig(), topics.toolResponses());
    }

    /** A request of agent {@code jobId} for a call of {@code spec} with {@code argumentsJson}. */
    public static ToolRequest request(String jobId, ToolSpec spec, String argumentsJson) {
        String canonical = CallHash.canonicalJson(argumentsJson);
        return ToolRequest.newBuilder()
                .setCallHash(CallHash.ofCanonicalCall(spec, canonical))
                .setJobId(jobId)
                .setBatchId("batch")
                .setTurn(1)
                .setCallId("call-" + jobId)
                .setTool(spec)
                .setArgumentsJson(canonical)
                .setRequestedAtMs(System.currentTimeMillis())
                .build();
    }

    /** Sends every request at once. */
    public void send(List<ToolRequest> requests) {
        KafkaIO.sendAll(
                kafka.clientConfig(),
                topics.toolRequests(),
                requests.stream().map(r -> Map.entry(r.getCallHash(), r)).toList());
    }

    /** Waits until every job of {@code jobIds} has a response; returns them by job id. */
    public Map<String, ToolResponse> awaitResponses(List<String> jobIds, Duration timeout) {
        await().atMost(timeout)
                .pollInterval(Duration.ofMillis(20))
                .until(() -> responses.values().stream()
                        .map(ToolResponse::getJobId)
                        .collect(Collectors.toSet())
                        .containsAll(jobIds));
        return responses.values().stream()
                .filter(r -> jobIds.contains(r.getJobId()))
                .collect(Collectors.toMap(ToolResponse::getJobId, r -> r, (a, b) -> a));
    }

    @Override
    public void close() {
        responses.close();
        worker.close();
        coalescer.close(CloseOptions.timeout(Duration.ofSeconds(10))
                .withGroupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP));
    }
}
