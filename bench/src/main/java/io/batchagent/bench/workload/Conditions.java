package io.batchagent.bench.workload;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.bench.engine.EngineTarget;
import io.batchagent.bench.engine.ModelCall;
import io.batchagent.bench.engine.RecordingProxy;
import io.batchagent.bench.harness.BenchClient;
import io.batchagent.bench.harness.KafkaHarness;
import io.batchagent.bench.harness.RawLoop;
import io.batchagent.bench.report.CallSummary;
import io.batchagent.bench.report.Json;
import io.batchagent.bench.tools.ToolLedger;
import io.batchagent.cli.PipelineConfig;
import io.batchagent.events.AgentResult;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.JobStatus;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.FlowControl;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.inference.OpenAiCompatibleClient;
import io.batchagent.simulator.SimulatorStats;
import io.batchagent.tools.ToolRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeoutException;

/**
 * Runs one condition of a workload against the engine behind the recording proxy and reports what
 * happened: the raw endpoint loop ({@link #raw}) or BatchAgent on Kafka ({@link #batchAgent}). Before
 * either, the engine's prefix cache is flushed and its counters are reset; the wall clock starts
 * after that.
 */
public final class Conditions implements AutoCloseable {

    /** What one condition run measured. */
    public record Outcome(
            String condition,
            String label,
            double wallSeconds,
            int jobs,
            int succeeded,
            List<String> problems,
            long toolExecutions,
            CallSummary agentCalls,
            CallSummary warmupCalls,
            List<ModelCall> calls,
            Optional<SimulatorStats> simulator,
            String flush,
            Map<String, Long> executionsByTool) {

        public double throughputJobsPerSecond() {
            return jobs / wallSeconds;
        }

        public ObjectNode toJson() {
            ObjectNode node = JsonNodeFactory.instance.objectNode();
            node.put("condition", condition);
            node.put("label", label);
            Json.putNumber(node, "wall_s", wallSeconds);
            node.put("jobs", jobs);
            node.put("succeeded", succeeded);
            Json.putNumber(node, "throughput_jobs_per_s", throughputJobsPerSecond());
            node.put("tool_executions", toolExecutions);
            node.putPOJO("tool_executions_by_tool", executionsByTool);
            node.put("cache_flush", flush);
            if (condition.equals("C")) {
                node.put("warmup_by", "the inference worker (PipelineConfig.warmUp)");
            }
            node.set("agent_calls", agentCalls.toJson());
            if (warmupCalls != null) {
                node.set("warmup_calls", warmupCalls.toJson());
            }
            simulator.ifPresent(s -> {
                ObjectNode sim = node.putObject("simulator_counters");
                sim.put("note", "SIMULATED engine's own counters, warm-up included");
                sim.put("requests", s.requests());
                sim.put("prompt_tokens", s.promptTokens());
                sim.put("cached_tokens", s.cachedTokens());
                sim.put("prefill_tokens_computed", s.prefillTokensComputed());
                sim.put("completion_tokens", s.completionTokens());
                sim.put("peak_in_flight", s.peakInFlight());
            });
            node.putPOJO("problems", problems.stream().distinct().limit(5).toList());
            return node;
        }
    }

    private final EngineTarget engine;
    private final RecordingProxy proxy;
    private final OpenAiCompatibleClient client;
    private final String apiKey;

    /** @param apiKey the engine's API key, or null; sent by the raw loop and the pipeline alike */
    public Conditions(EngineTarget engine, RecordingProxy proxy, int poolSize, String apiKey) {
        this.engine = engine;
        this.proxy = proxy;
        this.apiKey = apiKey;
        InferenceWorkerConfig config = InferenceWorkerConfig.defaults().withMaxInflight(Math.max(1, poolSize));
        if (apiKey != null) {
            config = config.withEngineApiKey(apiKey);
        }
        this.client = new OpenAiCompatibleClient(EngineEndpoint.parse(engine.urlThrough(proxy.port())), config);
    }

    /** The engine URL the pipeline should use: through the proxy. */
    public String pipelineEngineUrl() {
        return engine.urlThrough(proxy.port());
    }

    public OpenAiCompatibleClient client() {
        return client;
    }

    private String prepare() {
        proxy.drain();
        String flush = engine.flush();
        engine.resetStats();
        ToolLedger.reset();
        return flush;
    }

    /**
     * Condition A: the raw loop, {@code concurrency} jobs at a time, each holding its slot for its whole
     * life; every tool call executed in-process; no warm-up.
     */
    public Outcome raw(String label, BatchShape shape, String batchId, int concurrency) throws InterruptedException {
        BatchSpec spec = shape.toSpec(batchId);
        List<String> messages = shape.userMessages();
        ToolRegistry tools = ToolRegistry.builder().discover().build();
        String flush = prepare();
        proxy.tag("A");
        long start = System.nanoTime();
        List<RawLoop.JobOutcome> outcomes = new RawLoop(client, tools).run(spec, messages, concurrency);
        long end =
                outcomes.stream().mapToLong(RawLoop.JobOutcome::endNanos).max().orElse(System.nanoTime());
        List<ModelCall> calls = proxy.drain();
        List<String> problems = outcomes.stream()
                .filter(o -> !o.succeeded())
                .map(RawLoop.JobOutcome::problem)
                .toList();
        return new Outcome(
                "A",
                label,
                (end - start) / 1e9,
                outcomes.size(),
                (int) outcomes.stream().filter(RawLoop.JobOutcome::succeeded).count(),
                problems,
                totalExecutions(shape),
                CallSummary.of(calls),
                null,
                calls,
                engine.simulatorStats(),
                flush,
                executionsByTool(shape));
    }

    /**
     * Condition C: BatchAgent. A new pipeline (topics, Streams apps, tool cache) is started before the
     * clock; then the warm-up (when {@code warm}) and the fan-out are timed until the last result.
     */
    public Outcome batchAgent(
            String label,
            BatchShape shape,
            String batchId,
            KafkaHarness harness,
            String topicPrefix,
            int maxInflight,
            Map<String, String> toolOptions,
            boolean warm,
            Duration timeout)
            throws TimeoutException {
        return batchAgent(
                label,
                shape,
                batchId,
                harness,
                topicPrefix,
                maxInflight,
                FlowControl.defaults(),
                toolOptions,
                warm,
                timeout);
    }

    /** As above, with the inference worker's flow control (adaptive or fixed in-flight, outage budget) given. */
    public Outcome batchAgent(
            String label,
            BatchShape shape,
            String batchId,
            KafkaHarness harness,
            String topicPrefix,
            int maxInflight,
            FlowControl flow,
            Map<String, String> toolOptions,
            boolean warm,
            Duration timeout)
            throws TimeoutException {
        PipelineConfig config = harness.config(topicPrefix, pipelineEngineUrl(), maxInflight, toolOptions, true, 4)
                .withFlowControl(flow, null);
        if (apiKey != null) {
            config = config.withEngine(config.engineUrl(), apiKey);
        }
        try (KafkaHarness.Run run = harness.startPipeline(config, KafkaHarness.ALL_STAGES)) {
            return batchAgent(label, shape, batchId, run.client(), warm, timeout);
        }
    }

    /** Condition C on a pipeline already running (its tool cache must not hold this batch's calls). */
    public Outcome batchAgent(
            String label, BatchShape shape, String batchId, BenchClient client, boolean warm, Duration timeout)
            throws TimeoutException {
        BatchSpec spec = shape.toSpec(batchId);
        String flush = prepare();
        long start = System.nanoTime();
        proxy.tag("C");
        List<String> jobIds = client.submit(spec, shape.inputs());
        Map<String, BenchClient.Received> results = client.await(jobIds, timeout);
        long end = results.values().stream()
                .mapToLong(BenchClient.Received::receivedNanos)
                .max()
                .orElse(System.nanoTime());
        List<ModelCall> all = proxy.drain();
        List<ModelCall> agentCalls = all.stream().filter(c -> !c.warmup()).toList();
        List<ModelCall> warmupCalls = all.stream().filter(c -> c.warmup()).toList();
        List<String> problems = new ArrayList<>();
        int succeeded = 0;
        for (BenchClient.Received received : results.values()) {
            AgentResult result = received.result();
            if (result.getStatus() == JobStatus.SUCCEEDED) {
                succeeded++;
            } else {
                problems.add(
                        result.getError() == null
                                ? result.getStatus().name()
                                : result.getError().getReason() + ": "
                                        + result.getError().getMessage());
            }
        }
        return new Outcome(
                "C",
                label,
                (end - start) / 1e9,
                jobIds.size(),
                succeeded,
                problems,
                totalExecutions(shape),
                CallSummary.of(agentCalls),
                warm ? CallSummary.of(warmupCalls) : null,
                all,
                engine.simulatorStats(),
                flush,
                executionsByTool(shape));
    }

    private static long totalExecutions(BatchShape shape) {
        return shape.tools().stream()
                .mapToLong(t -> ToolLedger.executions(t.getName()))
                .sum();
    }

    private static Map<String, Long> executionsByTool(BatchShape shape) {
        Map<String, Long> out = new java.util.TreeMap<>();
        shape.tools().forEach(t -> out.put(t.getName(), ToolLedger.executions(t.getName())));
        return out;
    }

    @Override
    public void close() {
        client.close();
    }
}
