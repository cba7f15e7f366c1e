package io.batchagent.sdk;

import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.client.BatchStatus;
import io.batchagent.client.ClusterSettings;
import io.batchagent.events.AgentResult;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.ServiceLoader;
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
 * try (BatchAgent agent = BatchAgent.connect(ClusterSettings.of("kafka:9092"))) {  // or BatchAgent.embedded(Path.of("data"))
 *     AgentSpec<Summary> spec = AgentSpec.builder(OutputSchema.of(Summary.class))
 *             .task("Summarise: {paper}").inputs(papers).build();
 *     List<AgentOutcome<Summary>> results = agent.run(spec);
 * }
 * }</pre>
 *
 * <p>{@link #connect} is a client of a deployment whose workers run elsewhere: it runs no stage and
 * needs only this module (the events and plain Kafka clients). {@link #embedded} runs an embedded broker,
 * the engine simulator and every stage in this JVM; those live in {@code batchagent-cli}, which this
 * module finds through {@link EmbeddedRuntime} so that it does not depend on them. Either way one
 * instance runs any number of batches, one after another or at once. Thread-safe.
 */
public final class BatchAgent implements AutoCloseable {

    private final BatchClient client;
    private final Duration timeout;
    private final AutoCloseable stages;

    private BatchAgent(BatchClient client, Duration timeout, AutoCloseable stages) {
        this.client = client;
        this.timeout = timeout;
        this.stages = stages;
    }

    /** A client of the deployment {@code cluster} describes: submits and reads through Kafka, runs no stage. */
    public static BatchAgent connect(ClusterSettings cluster) {
        return new BatchAgent(cluster.client(), cluster.timeout(), null);
    }

    /**
     * An embedded broker in {@code dataDir}, the default simulator backend, every stage in this JVM.
     *
     * @throws IllegalStateException if {@code batchagent-cli} (which runs them) is not on the class path
     */
    public static BatchAgent embedded(Path dataDir) {
        return ServiceLoader.load(EmbeddedRuntime.class)
                .findFirst()
                .orElseThrow(() -> new IllegalStateException("BatchAgent.embedded runs a broker and every stage, which "
                        + "need io.batchagent:batchagent-cli on the class path; to use a running deployment, call "
                        + "BatchAgent.connect(ClusterSettings.of(bootstrapServers))"))
                .embedded(dataDir);
    }

    /**
     * For a runtime that runs stages in this JVM ({@link EmbeddedRuntime}): an agent that submits with
     * {@code client}, waits up to {@code timeout} for a batch, and closes {@code stages} when it is closed.
     */
    public static BatchAgent withStages(BatchClient client, Duration timeout, AutoCloseable stages) {
        return new BatchAgent(client, timeout, stages);
    }

    /** The client this instance submits with (for cancel, resume, raw results). */
    public BatchClient client() {
        return client;
    }

    /**
     * Publishes {@code spec}'s batch and returns at once; {@link #results} or
     * {@link #stream(String, OutputSchema)} read it, here or in another process.
     */
    public BatchClient.Submission submit(AgentSpec<?> spec) {
        return client.submit(spec.batchId(), spec.definition());
    }

    /**
     * Waits until every job of batch {@code batchId} (submitted here or by anyone else) has a final
     * result; results in input order.
     */
    public <T> List<AgentOutcome<T>> results(String batchId, OutputSchema<T> output) {
        try {
            return client.follow(batchId, r -> {}, false, () -> false, timeout).stream()
                    .map(r -> AgentOutcome.of(r, output))
                    .toList();
        } catch (TimeoutException e) {
            throw new IllegalStateException("batch " + batchId + " did not finish: " + e.getMessage(), e);
        }
    }

    /**
     * Yields each result of batch {@code batchId} as it finishes, those already finished first; the
     * stream ends when every job has one.
     */
    public <T> Stream<AgentOutcome<T>> stream(String batchId, OutputSchema<T> output) {
        return streamOf(
                onResult -> {
                    try {
                        client.follow(batchId, onResult, false, () -> false, timeout);
                    } catch (TimeoutException e) {
                        throw new IllegalStateException("batch " + batchId + " did not finish: " + e.getMessage(), e);
                    }
                },
                output);
    }

    /** Where batch {@code batchId} stands (counts by status, jobs in flight, tool activity, last progress). */
    public BatchStatus status(String batchId) {
        return client.status(batchId);
    }

    /** Runs {@code spec} to completion; results in input order. Rerunning a spec resumes it. */
    public <T> List<AgentOutcome<T>> run(AgentSpec<T> spec) {
        return run(spec, false);
    }

    /** As {@link #run(AgentSpec)}; with {@code retryFailed}, jobs that failed before run again. */
    public <T> List<AgentOutcome<T>> run(AgentSpec<T> spec, boolean retryFailed) {
        List<AgentResult> results = runDefinition(spec.batchId(), spec.definition(), retryFailed, r -> {});
        return results.stream().map(r -> AgentOutcome.of(r, spec.output())).toList();
    }

    /** Runs {@code spec} and yields each result as it finishes. The stream ends when every job has. */
    public <T> Stream<AgentOutcome<T>> stream(AgentSpec<T> spec) {
        return streamOf(onResult -> runDefinition(spec.batchId(), spec.definition(), false, onResult), spec.output());
    }

    /** Runs {@code producer} on another thread and yields the results it passes on, decoded, until it returns. */
    private static <T> Stream<AgentOutcome<T>> streamOf(
            Consumer<Consumer<AgentResult>> producer, OutputSchema<T> output) {
        BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
        Object end = new Object();
        CompletableFuture.runAsync(() -> {
            try {
                producer.accept(result -> queue.add(AgentOutcome.of(result, output)));
                queue.add(end);
            } catch (RuntimeException e) {
                queue.add(e);
            }
        });
        Spliterator<AgentOutcome<T>> results =
                new Spliterators.AbstractSpliterator<>(Long.MAX_VALUE, Spliterator.ORDERED) {
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
            var entry = results.addObject()
                    .put("index", outcome.index())
                    .put("status", outcome.status().name());
            entry.set("output", outcome.output() == null ? json.nullNode() : json.valueToTree(outcome.output()));
            if (outcome.errorMessage() != null) {
                entry.put("error", outcome.errorReason() + ": " + outcome.errorMessage());
            }
            ok += outcome.succeeded() ? 1 : 0;
        }
        input.put("succeeded", ok).put("failed", mapped.size() - ok);
        BatchDefinition reduceDefinition = reduce.definition().withInputs(List.of(input.toString()));
        String reduceBatch = map.batchId() + "-reduce";
        AgentResult reduced =
                runDefinition(reduceBatch, reduceDefinition, false, r -> {}).get(0);
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
    public <P, T, R> MapReduceOutcome<P, T, R> runWithMapReduce(
            AgentSpec<P> plan, AgentSpec<T> map, AgentSpec<R> reduce) {
        if (plan.definition().inputs().size() != 1) {
            throw new IllegalArgumentException("the plan spec needs exactly one input, got "
                    + plan.definition().inputs().size());
        }
        BatchClient.Workflow workflow =
                client.submitWorkflow(plan.batchId(), plan.definition(), map.definition(), reduce.definition());
        try {
            AgentResult planResult =
                    client.await(workflow.planJobIds(), r -> {}, timeout).get(0);
            AgentResult reduced = client.await(List.of(workflow.reduceJobId()), r -> {}, timeout)
                    .get(0);
            List<AgentResult> mapped =
                    new ArrayList<>(client.finalResults(workflow.mapBatchId()).values());
            mapped.sort(Comparator.comparingLong(AgentResult::getIndex));
            return new MapReduceOutcome<>(
                    AgentOutcome.of(planResult, plan.output()),
                    mapped.stream().map(r -> AgentOutcome.of(r, map.output())).toList(),
                    AgentOutcome.of(reduced, reduce.output()));
        } catch (TimeoutException e) {
            throw new IllegalStateException(
                    "workflow " + workflow.workflowId() + " did not finish: " + e.getMessage(), e);
        }
    }

    private List<AgentResult> runDefinition(
            String batchId, BatchDefinition definition, boolean retryFailed, Consumer<AgentResult> onResult) {
        BatchClient.Submission submission = client.submit(batchId, definition, retryFailed);
        try {
            return client.await(submission, onResult, timeout);
        } catch (TimeoutException e) {
            throw new IllegalStateException("batch " + batchId + " did not finish: " + e.getMessage(), e);
        }
    }

    /** Cancels a running batch: no new turn of it starts; its unfinished jobs end CANCELLED. */
    public boolean cancel(String batchId) {
        return client.cancel(batchId);
    }

    /** Closes the stages this instance runs, if any; a connected client holds nothing between calls. */
    @Override
    public void close() {
        if (stages != null) {
            try {
                stages.close();
            } catch (Exception e) {
                throw new IllegalStateException("cannot close the embedded stages: " + e.getMessage(), e);
            }
        }
    }
}
