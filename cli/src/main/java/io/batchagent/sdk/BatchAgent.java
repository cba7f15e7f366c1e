package io.batchagent.sdk;

import io.batchagent.cli.BatchClient;
import io.batchagent.cli.BatchDefinition;
import io.batchagent.cli.BatchRunner;
import io.batchagent.cli.Pipeline;
import io.batchagent.cli.PipelineConfig;
import io.batchagent.cli.Stage;
import io.batchagent.events.AgentResult;
import io.batchagent.kafka.embedded.EmbeddedKafkaBroker;
import io.batchagent.simulator.EngineSimulator;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * The Java SDK: runs batches of agents and returns typed results.
 *
 * <pre>{@code
 * record Summary(String title, String contribution) {}
 * try (BatchAgent agent = BatchAgent.embedded(Path.of("data"))) {
 *     AgentSpec<Summary> spec = AgentSpec.builder(OutputSchema.of(Summary.class))
 *             .task("Summarise: {paper}").inputs(papers).build();
 *     List<AgentOutcome<Summary>> results = agent.run(spec);
 * }
 * }</pre>
 *
 * <p>One instance holds an embedded broker (unless given a cluster), the engine simulator for a
 * {@code sim://} backend, and every stage; it runs any number of batches, one after another or at
 * once. Thread-safe.
 */
public final class BatchAgent implements AutoCloseable {

    private final EmbeddedKafkaBroker broker;
    private final EngineSimulator simulator;
    private final Pipeline pipeline;
    private final BatchClient client;
    private final BatchRunner.Settings settings;
    private final String engineUrl;

    private BatchAgent(EmbeddedKafkaBroker broker, EngineSimulator simulator, Pipeline pipeline, BatchClient client,
                       BatchRunner.Settings settings, String engineUrl) {
        this.engineUrl = engineUrl;
        this.broker = broker;
        this.simulator = simulator;
        this.pipeline = pipeline;
        this.client = client;
        this.settings = settings;
    }

    /** An embedded broker in {@code dataDir}, the default simulator backend, every stage in this JVM. */
    public static BatchAgent embedded(Path dataDir) {
        return start(new BatchRunner.Settings(null, dataDir, BatchRunner.SIM_SCHEME, null, null, null, 32,
                Map.of(), "", null));
    }

    /** Starts what {@code settings} describe (its batch id is ignored: each spec has its own). */
    public static BatchAgent start(BatchRunner.Settings settings) {
        EmbeddedKafkaBroker broker = null;
        EngineSimulator simulator = null;
        try {
            broker = settings.bootstrapServers() == null ? EmbeddedKafkaBroker.start(settings.dataDir().resolve("kafka")) : null;
            simulator = BatchRunner.startSimulator(settings);
            String bootstrap = broker != null ? broker.bootstrapServers() : settings.bootstrapServers();
            String engineUrl = simulator != null ? BatchRunner.engineUrl(simulator) : settings.backend();
            PipelineConfig config = PipelineConfig.defaults(bootstrap, engineUrl, settings.dataDir().resolve("streams"))
                    .withKafkaProperties(settings.kafkaProperties())
                    .withTopicPrefix(settings.topicPrefix())
                    .withMaxInflight(settings.maxInflight())
                    .withToolOptions(settings.toolOptions())
                    .withEngine(engineUrl, settings.engineApiKey())
                    .withToolWorker(settings.tools())
                    .withFlowControl(settings.flowControl(), settings.engineTimeout());
            Pipeline pipeline = Pipeline.start(config, EnumSet.allOf(Stage.class));
            return new BatchAgent(broker, simulator, pipeline, new BatchClient(config.kafkaConfig(), pipeline.topics()), settings, engineUrl);
        } catch (RuntimeException e) {
            if (simulator != null) {
                simulator.close();
            }
            if (broker != null) {
                broker.close();
            }
            throw e;
        }
    }

    /** The client this instance submits with (for cancel, resume, raw results). */
    public BatchClient client() {
        return client;
    }

    /** The in-process pipeline (its tool worker's counters, for example). */
    public Pipeline pipeline() {
        return pipeline;
    }

    /** The engine URL the workers call. */
    public String engineUrl() {
        return engineUrl;
    }

    /** The engine simulator, when the backend is {@code sim://}; null otherwise. */
    public EngineSimulator simulator() {
        return simulator;
    }

    /** Runs {@code spec} to completion; results in input order. Rerunning a spec resumes it. */
    public <T> List<AgentOutcome<T>> run(AgentSpec<T> spec) {
        return run(spec, false);
    }

    /** As {@link #run(AgentSpec)}; with {@code retryFailed}, jobs that failed before run again. */
    public <T> List<AgentOutcome<T>> run(AgentSpec<T> spec, boolean retryFailed) {
        List<AgentResult> results = runDefinition(spec.batchId(), spec.definition(), retryFailed, r -> { });
        return results.stream().map(r -> AgentOutcome.of(r, spec.output())).toList();
    }

    /** Runs {@code spec} and yields each result as it finishes. The stream ends when every job has. */
    public <T> Stream<AgentOutcome<T>> stream(AgentSpec<T> spec) {
        BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
        Object end = new Object();
        CompletableFuture.runAsync(() -> {
            try {
                runDefinition(spec.batchId(), spec.definition(), false, result -> queue.add(AgentOutcome.of(result, spec.output())));
                queue.add(end);
            } catch (RuntimeException e) {
                queue.add(e);
            }
        });
        Spliterator<AgentOutcome<T>> results = new Spliterators.AbstractSpliterator<>(Long.MAX_VALUE, Spliterator.ORDERED) {
            @Override
            @SuppressWarnings("unchecked")
            public boolean tryAdvance(Consumer<? super AgentOutcome<T>> action) {
                Object next;
                try {
                    next = queue.take();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while streaming results", e);
                }
                if (next == end) {
                    return false;
                }
                if (next instanceof RuntimeException error) {
                    throw error;
                }
                action.accept((AgentOutcome<T>) next);
                return true;
            }
        };
        return StreamSupport.stream(results, false);
    }

    /**
     * Runs {@code map}, then one reduce job whose input holds every map result ({@code {results}},
     * {@code {succeeded}}, {@code {failed}} in the reduce template), failed ones marked.
     */
    public <T, R> MapReduceOutcome<Void, T, R> runWithReduce(AgentSpec<T> map, AgentSpec<R> reduce) {
        List<AgentOutcome<T>> mapped = run(map);
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        var input = json.createObjectNode();
        var results = input.putArray("results");
        int ok = 0;
        for (AgentOutcome<T> outcome : mapped) {
            var entry = results.addObject().put("index", outcome.index()).put("status", outcome.status().name());
            entry.set("output", outcome.output() == null ? json.nullNode() : json.valueToTree(outcome.output()));
            if (outcome.errorMessage() != null) {
                entry.put("error", outcome.errorReason() + ": " + outcome.errorMessage());
            }
            ok += outcome.succeeded() ? 1 : 0;
        }
        input.put("succeeded", ok).put("failed", mapped.size() - ok);
        BatchDefinition reduceDefinition = reduce.definition().withInputs(List.of(input.toString()));
        String reduceBatch = map.batchId() + "-reduce";
        AgentResult reduced = runDefinition(reduceBatch, reduceDefinition, false, r -> { }).get(0);
        return new MapReduceOutcome<>(null, mapped, AgentOutcome.of(reduced, reduce.output()));
    }

    /**
     * Runs a plan -> map -> reduce workflow as events: the plan's answer must hold an array
     * {@code items}; each item becomes a map job ({@code {item}} in the map template); when every map
     * job is final, one reduce job gets them all ({@code {results}}, {@code {succeeded}},
     * {@code {failed}}). The workflow coordinator drives it, so it survives worker restarts.
     *
     * @param plan a spec with one input
     * @param map a stage spec ({@link AgentSpec.Builder#buildStage()}), inputs ignored
     * @param reduce a stage spec, inputs ignored
     */
    public <P, T, R> MapReduceOutcome<P, T, R> runWithMapReduce(AgentSpec<P> plan, AgentSpec<T> map, AgentSpec<R> reduce) {
        if (plan.definition().inputs().size() != 1) {
            throw new IllegalArgumentException("the plan spec needs exactly one input, got " + plan.definition().inputs().size());
        }
        BatchClient.Workflow workflow = client.submitWorkflow(plan.batchId(), plan.definition(), map.definition(), reduce.definition());
        try {
            AgentResult planResult = client.await(workflow.planJobIds(), r -> { }, settings.timeout()).get(0);
            AgentResult reduced = client.await(List.of(workflow.reduceJobId()), r -> { }, settings.timeout()).get(0);
            List<AgentResult> mapped = new ArrayList<>(client.finalResults(workflow.mapBatchId()).values());
            mapped.sort(Comparator.comparingLong(AgentResult::getIndex));
            return new MapReduceOutcome<>(AgentOutcome.of(planResult, plan.output()),
                    mapped.stream().map(r -> AgentOutcome.of(r, map.output())).toList(),
                    AgentOutcome.of(reduced, reduce.output()));
        } catch (TimeoutException e) {
            throw new IllegalStateException("workflow " + workflow.workflowId() + " did not finish: " + e.getMessage(), e);
        }
    }

    List<AgentResult> runDefinition(String batchId, BatchDefinition definition, boolean retryFailed, Consumer<AgentResult> onResult) {
        BatchClient.Submission submission = client.submit(batchId, definition, retryFailed);
        try {
            return client.await(submission, onResult, settings.timeout());
        } catch (TimeoutException e) {
            throw new IllegalStateException("batch " + batchId + " did not finish: " + e.getMessage(), e);
        }
    }

    /** Cancels a running batch: no new turn of it starts; its unfinished jobs end CANCELLED. */
    public boolean cancel(String batchId) {
        return client.cancel(batchId);
    }

    @Override
    public void close() {
        pipeline.close();
        if (simulator != null) {
            simulator.close();
        }
        if (broker != null) {
            broker.close();
        }
    }

    Duration timeout() {
        return settings.timeout();
    }
}
