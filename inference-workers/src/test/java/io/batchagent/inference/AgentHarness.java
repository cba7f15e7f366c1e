package io.batchagent.inference;

import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.Role;
import io.batchagent.events.ToolCallRef;
import io.batchagent.schemas.Topics;
import io.batchagent.schemas.Topics.Topic;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Drives the real {@link TurnHandler} the way the pipeline does, without a broker: a turn in, its records
 * out of a MockProducer; between turns, the tool messages appended as the turn assembler appends them
 * (one TOOL message per pending call, in the order of the calls).
 */
final class AgentHarness {

    private static final Topics TOPICS = Fixtures.TOPICS;

    final MockProducer<String, byte[]> producer =
            new MockProducer<>(true, null, new StringSerializer(), new ByteArraySerializer());
    final TurnHandler.Counters counters = new TurnHandler.Counters();
    final TurnHandler handler;

    AgentHarness(BatchSpec spec, EngineClient engine, BatchWarmer warmer) {
        this.handler = new TurnHandler(
                TOPICS,
                batchId -> CompletableFuture.completedFuture(spec),
                engine,
                producer,
                Runnable::run,
                System::currentTimeMillis,
                counters,
                warmer);
    }

    /** Handles one turn and waits until its records are published. */
    void handle(AgentTurn turn) {
        handleAsync(turn).orTimeout(30, TimeUnit.SECONDS).join();
    }

    CompletableFuture<Void> handleAsync(AgentTurn turn) {
        return handler.handle(new ConsumerRecord<>(
                TOPICS.agentTurns().name(), 0, 0L, turn.getJobId(), new Decoded<>(turn, null, null)));
    }

    /** The latest agent-waits record of a job that waits for tools (not a final result). */
    AgentTurn waiting(String jobId) {
        List<AgentTurn> waits = values(TOPICS.agentWaits(), jobId).stream()
                .filter(w -> w.getFinalResult() == null)
                .toList();
        if (waits.isEmpty()) {
            throw new AssertionError("job " + jobId + " is not waiting for tools; results: " + results());
        }
        return waits.get(waits.size() - 1);
    }

    /** The next turn, once every pending call of {@code waiting} is answered from {@code outputs} (by call id). */
    static AgentTurn nextTurn(AgentTurn waiting, Map<String, String> outputs) {
        List<ChatMessage> messages = new ArrayList<>(waiting.getMessages());
        for (ToolCallRef call : waiting.getPendingCalls()) {
            messages.add(ChatMessage.newBuilder()
                    .setRole(Role.TOOL)
                    .setToolCallId(call.getId())
                    .setContent(outputs.getOrDefault(call.getId(), "no output"))
                    .build());
        }
        return AgentTurn.newBuilder(waiting)
                .setTurn(waiting.getTurn() + 1)
                .setMessages(messages)
                .setPendingCalls(List.of())
                .setEmittedAtMs(System.currentTimeMillis())
                .build();
    }

    List<AgentResult> results() {
        return Fixtures.finalResults(producer.history());
    }

    AgentResult result(String jobId) {
        List<AgentResult> results =
                results().stream().filter(r -> r.getJobId().equals(jobId)).toList();
        if (results.size() != 1) {
            throw new AssertionError("expected one result for " + jobId + ", got " + results);
        }
        return results.get(0);
    }

    private <V> List<V> values(Topic<String, V> topic, String key) {
        List<V> values = new ArrayList<>();
        for (ProducerRecord<String, byte[]> record : producer.history()) {
            if (record.topic().equals(topic.name()) && (key == null || key.equals(record.key()))) {
                values.add(topic.valueSerde().deserializer().deserialize(topic.name(), record.value()));
            }
        }
        return values;
    }

    static final Duration PATIENCE = Duration.ofSeconds(20);
}
