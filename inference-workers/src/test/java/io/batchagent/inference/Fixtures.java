package io.batchagent.inference;

import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.Role;
import io.batchagent.events.Timings;
import io.batchagent.events.ToolSpec;
import io.batchagent.events.Usage;
import io.batchagent.schemas.Topics;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Events for the tests of this module. */
final class Fixtures {

    static final String SCHEMA = "{\"type\":\"object\",\"required\":[\"city\",\"population\"],"
            + "\"properties\":{\"population\":{\"type\":\"integer\",\"minimum\":0},\"city\":{\"type\":\"string\"}}}";

    /** The topic catalogue; creating it also makes Avro trust the event classes (see AvroWireSerde). */
    static final Topics TOPICS = Topics.create("test.", Map.of());

    private Fixtures() {}

    static ToolSpec tool(String name, String parametersJson) {
        return ToolSpec.newBuilder()
                .setName(name)
                .setDescription("The " + name + " tool.")
                .setParametersJson(parametersJson)
                .build();
    }

    static BatchSpec spec(String batchId) {
        return BatchSpec.newBuilder()
                .setBatchId(batchId)
                .setModel("qwen2.5-32b")
                .setSystemPrompt("You are a careful research agent.")
                .setTaskTemplate("Find the population of {city}.")
                .setTools(List.of(
                        tool(
                                "web_search",
                                "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"}},\"required\":[\"query\"]}"),
                        tool("fetch_url", "{\"properties\":{\"url\":{\"type\":\"string\"}},\"type\":\"object\"}")))
                .setOutputSchemaJson(SCHEMA)
                .setMaxTurns(4)
                .setMaxTokens(512)
                .setTemperature(0.0)
                .setOptions(Map.of())
                .build();
    }

    static ChatMessage user(String content) {
        return ChatMessage.newBuilder().setRole(Role.USER).setContent(content).build();
    }

    static AgentTurn turn(String jobId, String batchId, int turn, List<ChatMessage> messages, long emittedAtMs) {
        return AgentTurn.newBuilder()
                .setJobId(jobId)
                .setBatchId(batchId)
                .setIndex(7)
                .setTurn(turn)
                .setMessages(messages)
                .setPendingCalls(List.of())
                .setUsage(Usage.newBuilder().build())
                .setTimings(Timings.newBuilder().build())
                .setSubmittedAtMs(1_000)
                .setEmittedAtMs(emittedAtMs)
                .setToolCallsRequested(0)
                .build();
    }

    /**
     * The final results a worker published, in order: those sent to the turn assembler as a turn's
     * outcome (agent-waits with {@code finalResult}) and those written to results directly (dead letters).
     */
    static List<AgentResult> finalResults(List<ProducerRecord<String, byte[]>> history) {
        List<AgentResult> results = new ArrayList<>();
        for (ProducerRecord<String, byte[]> record : history) {
            if (record.topic().equals(TOPICS.agentWaits().name())) {
                AgentTurn outcome =
                        TOPICS.agentWaits().valueSerde().deserializer().deserialize(record.topic(), record.value());
                if (outcome.getFinalResult() != null) {
                    results.add(outcome.getFinalResult());
                }
            } else if (record.topic().equals(TOPICS.results().name())) {
                results.add(TOPICS.results().valueSerde().deserializer().deserialize(record.topic(), record.value()));
            }
        }
        return results;
    }
}
