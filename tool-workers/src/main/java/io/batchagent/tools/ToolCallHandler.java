package io.batchagent.tools;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.ToolStatus;
import io.batchagent.schemas.Topics;
import io.batchagent.worker.InFlightConsumer;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns one record of the tool-calls topic into exactly one published record: a {@link ToolResult}
 * on the tool-results topic keyed by call hash, or, for a record that cannot be decoded, a
 * {@link DeadLetter}. The stage it returns completes when the broker has acknowledged that record,
 * so the consumer commits an offset only once its answer is durable.
 *
 * <p>Every expected failure is a result, not an exception: an unknown tool, arguments that are not
 * JSON, a tool that throws, a tool that overruns its timeout. The returned stage fails only when
 * the answer cannot be published.
 *
 * <p>Threads: {@link #handle} runs on the poll thread and only starts work. Tools run on
 * {@code toolExecutor}; timeouts fire on {@code timer}; sends happen on {@code publishing}, because
 * a producer send can block (on metadata, or when its buffer is full) and the poll thread must not.
 * A {@code publishing} executor that drops tasks once the worker stops leaves those stages
 * incomplete, which is what shutdown wants: their records were not committed and will be
 * processed again by the partition's next owner.
 */
final class ToolCallHandler implements InFlightConsumer.Handler<byte[], byte[]> {

    static final String STAGE = "tools";
    static final long DEFAULT_TIMEOUT_MS = 30_000;

    private static final Logger LOGGER = LoggerFactory.getLogger(ToolCallHandler.class);
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final Topics topics;
    private final ToolRegistry registry;
    private final ToolResultCache cache;
    private final Producer<byte[], byte[]> producer;
    private final ExecutorService toolExecutor;
    private final ScheduledExecutorService timer;
    private final Executor publishing;
    private final ToolWorkerCounters counters;
    private final Deserializer<ToolCall> callDeserializer;
    private final Serializer<String> resultKeySerializer;
    private final Serializer<ToolResult> resultSerializer;
    private final Serializer<DeadLetter> deadLetterSerializer;

    ToolCallHandler(Topics topics, ToolRegistry registry, ToolResultCache cache, Producer<byte[], byte[]> producer,
                    ExecutorService toolExecutor, ScheduledExecutorService timer, Executor publishing,
                    ToolWorkerCounters counters) {
        this.topics = topics;
        this.registry = registry;
        this.cache = cache;
        this.producer = producer;
        this.toolExecutor = toolExecutor;
        this.timer = timer;
        this.publishing = publishing;
        this.counters = counters;
        this.callDeserializer = topics.toolCalls().valueSerde().deserializer();
        this.resultKeySerializer = topics.toolResults().keySerde().serializer();
        this.resultSerializer = topics.toolResults().valueSerde().serializer();
        this.deadLetterSerializer = topics.deadLetters().valueSerde().serializer();
    }

    @Override
    public CompletionStage<?> handle(ConsumerRecord<byte[], byte[]> record) {
        ToolCall call;
        try {
            call = decode(record);
        } catch (RuntimeException e) {
            return deadLetter(record, e);
        }
        return answer(call).thenComposeAsync(result -> publish(call, result), publishing);
    }

    private ToolCall decode(ConsumerRecord<byte[], byte[]> record) {
        if (record.value() == null) {
            throw new SerializationException("the record has no value (a tombstone); tool calls are never deleted");
        }
        ToolCall call = callDeserializer.deserialize(record.topic(), record.headers(), record.value());
        if (call == null) {
            throw new SerializationException("the value decoded to nothing");
        }
        if (call.getCallHash().isBlank()) {
            throw new SerializationException("the ToolCall has an empty callHash, so its result could not be routed");
        }
        return call;
    }

    private CompletionStage<ToolResult> answer(ToolCall call) {
        if (!cacheable(call.getTool())) {
            return execute(call);
        }
        return lookUp(call).thenCompose(hit -> hit.isPresent()
                ? CompletableFuture.completedFuture(fromCache(call, hit.get()))
                : execute(call));
    }

    private CompletionStage<Optional<ToolResult>> lookUp(ToolCall call) {
        CompletionStage<Optional<ToolResult>> lookup;
        try {
            lookup = cache.get(call.getCallHash());
        } catch (RuntimeException e) {
            lookup = CompletableFuture.failedFuture(e);
        }
        // A cache that cannot answer costs an execution, never the call.
        return lookup.exceptionally(e -> {
            LOGGER.warn("result cache lookup failed; running the call: callHash={} tool={} error={}",
                    call.getCallHash(), call.getTool().getName(), e.toString());
            return Optional.empty();
        });
    }

    private ToolResult fromCache(ToolCall call, ToolResult cached) {
        counters.cacheHit();
        long now = System.currentTimeMillis();
        // The timings describe this answer, which took no tool time.
        return ToolResults.copyOf(cached)
                .setCallHash(call.getCallHash())
                .setExecuted(false)
                .setStartedAtMs(now)
                .setFinishedAtMs(now)
                .build();
    }

    private CompletableFuture<ToolResult> execute(ToolCall call) {
        long startedAt = System.currentTimeMillis();
        String name = call.getTool().getName();
        Optional<Tool> tool = registry.find(name);
        if (tool.isEmpty()) {
            return CompletableFuture.completedFuture(failed(call, ToolStatus.ERROR, "no tool named '" + name
                    + "' is installed on this worker; installed: " + String.join(", ", registry.names()), startedAt));
        }
        JsonNode arguments;
        try {
            arguments = parseArguments(call.getArgumentsJson());
        } catch (JsonProcessingException e) {
            return CompletableFuture.completedFuture(failed(call, ToolStatus.ERROR, "the arguments of tool '" + name
                    + "' are not valid JSON: " + e.getOriginalMessage(), startedAt));
        }
        return run(call, tool.get(), arguments, startedAt);
    }

    private static JsonNode parseArguments(String argumentsJson) throws JsonProcessingException {
        JsonNode arguments = JSON.readTree(argumentsJson);
        // Models send "" for a call without arguments.
        return arguments == null || arguments.isMissingNode() ? JSON.createObjectNode() : arguments;
    }

    private CompletableFuture<ToolResult> run(ToolCall call, Tool tool, JsonNode arguments, long startedAt) {
        long timeoutMs = call.getTool().getTimeoutMs() > 0 ? call.getTool().getTimeoutMs() : DEFAULT_TIMEOUT_MS;
        ToolContext context = new ToolContext(call.getCallHash(), call.getBatchId(),
                Instant.ofEpochMilli(startedAt).plusMillis(timeoutMs));
        CompletableFuture<ToolResult> outcome = new CompletableFuture<>();
        Future<?> task;
        try {
            task = toolExecutor.submit(() -> {
                counters.executionStarted(tool.name());
                LOGGER.trace("tool call started: callHash={} tool={} arguments={}",
                        call.getCallHash(), tool.name(), arguments);
                try {
                    String output = tool.execute(arguments, context);
                    outcome.complete(result(call, ToolStatus.OK, output == null ? "" : output, null, startedAt));
                } catch (Throwable e) {
                    // Whatever the tool threw is the agent's answer; if it timed out, the timeout already won.
                    outcome.complete(failed(call, ToolStatus.ERROR,
                            "tool '" + tool.name() + "' failed: " + e, startedAt));
                    LOGGER.trace("tool call failed: callHash={} tool={}", call.getCallHash(), tool.name(), e);
                }
            });
        } catch (RejectedExecutionException e) {
            // Only after the worker stopped; the record was not committed and will run again elsewhere.
            return new CompletableFuture<>();
        }
        ScheduledFuture<?> deadline = timer.schedule(() -> {
            if (outcome.complete(failed(call, ToolStatus.TIMEOUT,
                    "tool '" + tool.name() + "' timed out after " + timeoutMs + " ms", startedAt))) {
                task.cancel(true);
            }
        }, timeoutMs, TimeUnit.MILLISECONDS);
        outcome.whenComplete((result, error) -> deadline.cancel(false));
        return outcome;
    }

    private CompletionStage<RecordMetadata> publish(ToolCall call, ToolResult result) {
        if (result.getStatus() != ToolStatus.OK) {
            counters.failure(result.getStatus() == ToolStatus.TIMEOUT);
        } else if (result.getExecuted() && cacheable(call.getTool())) {
            store(call, result);
        }
        LOGGER.debug("tool call answered: callHash={} tool={} status={} executed={} ms={}",
                result.getCallHash(), result.getTool(), result.getStatus(), result.getExecuted(),
                result.getFinishedAtMs() - result.getStartedAtMs());
        LOGGER.trace("tool call output: callHash={} tool={} output={}",
                result.getCallHash(), result.getTool(), result.getOutput());
        String topic = topics.toolResults().name();
        return send(topic, resultKeySerializer.serialize(topic, result.getCallHash()),
                resultSerializer.serialize(topic, result));
    }

    private void store(ToolCall call, ToolResult result) {
        Duration ttl = Duration.ofMillis(call.getTool().getCacheTtlMs());
        CompletionStage<Void> stored;
        try {
            stored = cache.put(call.getCallHash(), result, ttl);
        } catch (RuntimeException e) {
            stored = CompletableFuture.failedFuture(e);
        }
        // A lost cache write costs a later execution, not this answer.
        stored.whenComplete((ignored, e) -> {
            if (e != null) {
                LOGGER.warn("result cache write failed: callHash={} tool={} error={}",
                        call.getCallHash(), call.getTool().getName(), e.toString());
            }
        });
    }

    private CompletionStage<?> deadLetter(ConsumerRecord<byte[], byte[]> record, RuntimeException error) {
        counters.deadLetter();
        String reason = "undecodable ToolCall: " + error.getMessage();
        LOGGER.warn("dead-lettering a tool-calls record: topic={} partition={} offset={} reason={}",
                record.topic(), record.partition(), record.offset(), reason);
        DeadLetter letter = DeadLetter.newBuilder()
                .setStage(STAGE)
                .setTopic(record.topic())
                .setPartition(record.partition())
                .setOffset(record.offset())
                .setKey(record.key() == null ? null : ByteBuffer.wrap(record.key()))
                .setValue(record.value() == null ? null : ByteBuffer.wrap(record.value()))
                .setReason(reason)
                .setExceptionClass(error.getClass().getName())
                .setRecordedAtMs(System.currentTimeMillis())
                .build();
        String topic = topics.deadLetters().name();
        return CompletableFuture.completedFuture(letter).thenComposeAsync(
                l -> send(topic, record.key(), deadLetterSerializer.serialize(topic, l)), publishing);
    }

    private CompletionStage<RecordMetadata> send(String topic, byte[] key, byte[] value) {
        CompletableFuture<RecordMetadata> acked = new CompletableFuture<>();
        try {
            producer.send(new ProducerRecord<>(topic, key, value), (metadata, e) -> {
                if (e == null) {
                    acked.complete(metadata);
                } else {
                    acked.completeExceptionally(e);
                }
            });
        } catch (RuntimeException e) {
            acked.completeExceptionally(e);
        }
        return acked;
    }

    private static ToolResult failed(ToolCall call, ToolStatus status, String error, long startedAt) {
        return result(call, status, error, error, startedAt);
    }

    /** The result the agent sees: output (for a failure, the error text) capped at the spec's limit. */
    private static ToolResult result(ToolCall call, ToolStatus status, String output, String error, long startedAt) {
        int maxChars = call.getTool().getMaxOutputChars();
        return ToolResult.newBuilder()
                .setCallHash(call.getCallHash())
                .setTool(call.getTool().getName())
                .setStatus(status)
                .setOutput(OutputLimit.truncate(output, maxChars))
                .setError(error == null ? null : OutputLimit.truncate(error, maxChars))
                .setExecuted(true)
                .setStartedAtMs(startedAt)
                .setFinishedAtMs(System.currentTimeMillis())
                .build();
    }

    /** Only results the batch declared reusable, for a positive time, are cached. */
    static boolean cacheable(ToolSpec spec) {
        return spec.getCacheable() && spec.getCacheTtlMs() > 0;
    }
}
