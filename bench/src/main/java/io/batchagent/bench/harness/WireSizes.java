package io.batchagent.bench.harness;

import io.batchagent.events.AgentTurn;
import io.batchagent.events.ChatMessage;
import io.batchagent.schemas.Topics;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.kafka.common.serialization.Deserializer;

/** Sizes of what a run wrote, read back from its topics. */
public final class WireSizes {

    private WireSizes() {}

    /**
     * The mean, over the jobs of a run, of the Avro size of a job's last conversation: the messages of its
     * last record on {@code <prefix>agent-continuations}, with every tool output that travels by reference
     * counted inline. 0 when no job continued.
     */
    public static double finalConversationBytes(Map<String, Object> kafkaConfig, String prefix) {
        Deserializer<AgentTurn> decoder =
                Topics.defaults().agentContinuations().valueSerde().deserializer();
        String topic = prefix + "agent-continuations";
        Map<String, AgentTurn> last = new HashMap<>();
        TopicScan.scan(kafkaConfig, topic, record -> {
            if (record.value() == null) {
                return;
            }
            AgentTurn turn = decoder.deserialize(topic, record.value());
            last.merge(turn.getJobId(), turn, (a, b) -> b.getTurn() >= a.getTurn() ? b : a);
        });
        return last.values().stream()
                .mapToLong(turn -> inlineSize(turn.getMessages()))
                .average()
                .orElse(0);
    }

    /** Avro binary size of {@code messages}, a tool output held by reference counted as its characters inline. */
    public static long inlineSize(List<ChatMessage> messages) {
        messages = messages.stream()
                .map(m -> m.getContentRef() == null || m.getContent() != null
                        ? m
                        : ChatMessage.newBuilder(m)
                                .setContent("x".repeat(m.getContentRef().getChars()))
                                .setContentRef(null)
                                .build())
                .toList();
        Schema array = Schema.createArray(ChatMessage.getClassSchema());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
        try {
            new SpecificDatumWriter<List<ChatMessage>>(array).write(messages, encoder);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.size();
    }
}
