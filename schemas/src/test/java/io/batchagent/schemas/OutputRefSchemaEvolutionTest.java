package io.batchagent.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.ChatMessage;
import io.batchagent.events.OutputRef;
import io.batchagent.events.Role;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolStatus;
import io.batchagent.schemas.serde.EventSerdes;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.Encoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;
import org.junit.jupiter.api.Test;

/**
 * Tool outputs by reference (issue 13, item 3) evolve the schemas compatibly: messages and results
 * written before {@code contentRef} / {@code outputRef} decode with the new schemas (inline, no
 * reference), and readers of the old schemas still decode new records (they see the inline fields).
 */
class OutputRefSchemaEvolutionTest {

    static {
        EventSerdes.trustEventClasses();
    }

    @Test
    void shouldDecodeAnOldToolMessageAndResultAsInline() throws IOException {
        Schema oldMessage = without(ChatMessage.getClassSchema(), "contentRef");
        GenericRecord message = new GenericRecordBuilder(oldMessage)
                .set(
                        "role",
                        new GenericData.EnumSymbol(oldMessage.getField("role").schema(), "TOOL"))
                .set("content", "page text")
                .set("toolCallId", "call_1")
                .build();
        GenericRecord readMessage = read(write(oldMessage, message), oldMessage, ChatMessage.getClassSchema());
        assertThat(readMessage.get("contentRef")).isNull();
        assertThat(readMessage.get("content").toString()).isEqualTo("page text");

        Schema oldResult = without(ToolResult.getClassSchema(), "outputRef");
        GenericRecord result = new GenericRecordBuilder(oldResult)
                .set("callHash", "h")
                .set("tool", "fetch")
                .set(
                        "status",
                        new GenericData.EnumSymbol(oldResult.getField("status").schema(), "OK"))
                .set("output", "page text")
                .build();
        GenericRecord readResult = read(write(oldResult, result), oldResult, ToolResult.getClassSchema());
        assertThat(readResult.get("outputRef")).isNull();
        assertThat(readResult.get("output").toString()).isEqualTo("page text");
    }

    @Test
    void shouldLetAnOldReaderDecodeAMessageThatHoldsAReference() throws IOException {
        ChatMessage message = ChatMessage.newBuilder()
                .setRole(Role.TOOL)
                .setToolCallId("call_1")
                .setContent(null)
                .setContentRef(OutputRef.newBuilder()
                        .setTopic("tool-results")
                        .setPartition(3)
                        .setOffset(42)
                        .setChars(8192)
                        .build())
                .build();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Encoder encoder = EncoderFactory.get().binaryEncoder(out, null);
        new SpecificDatumWriter<>(ChatMessage.class).write(message, encoder);
        encoder.flush();

        GenericRecord read = read(
                out.toByteArray(), ChatMessage.getClassSchema(), without(ChatMessage.getClassSchema(), "contentRef"));

        assertThat(read.get("toolCallId").toString()).isEqualTo("call_1");
        assertThat(read.get("content")).isNull();
    }

    @Test
    void shouldReferenceOnlyLargeOkOutputs() {
        ToolResult large = ToolResult.newBuilder()
                .setCallHash("h")
                .setTool("fetch")
                .setStatus(ToolStatus.OK)
                .setOutput("x".repeat(OutputRefs.INLINE_LIMIT_CHARS))
                .build();
        ToolResult small = ToolResult.newBuilder(large)
                .setOutput("x".repeat(OutputRefs.INLINE_LIMIT_CHARS - 1))
                .build();
        ToolResult error =
                ToolResult.newBuilder(large).setStatus(ToolStatus.ERROR).build();

        OutputRefs refs = new OutputRefs(OutputRefs.INLINE_LIMIT_CHARS);
        ToolResult referenced = refs.referenced(large, "tool-results", 2, 17);

        assertThat(referenced.getOutput()).isEmpty();
        assertThat(referenced.getOutputRef())
                .isEqualTo(OutputRef.newBuilder()
                        .setTopic("tool-results")
                        .setPartition(2)
                        .setOffset(17)
                        .setChars(OutputRefs.INLINE_LIMIT_CHARS)
                        .build());
        assertThat(new OutputRefs(0).referenced(large, "tool-results", 2, 17)).isSameAs(large);
        assertThat(refs.referenced(small, "tool-results", 2, 17)).isSameAs(small);
        assertThat(refs.referenced(error, "tool-results", 2, 17)).isSameAs(error);
        assertThat(refs.referenced(referenced, "tool-results", 3, 18)).isSameAs(referenced);
    }

    private static Schema without(Schema record, String field) {
        List<Schema.Field> fields = new ArrayList<>();
        for (Schema.Field f : record.getFields()) {
            if (!f.name().equals(field)) {
                fields.add(new Schema.Field(f, f.schema()));
            }
        }
        assertThat(fields).hasSize(record.getFields().size() - 1);
        return Schema.createRecord(record.getName(), record.getDoc(), record.getNamespace(), false, fields);
    }

    private static byte[] write(Schema schema, GenericRecord record) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Encoder encoder = EncoderFactory.get().binaryEncoder(out, null);
        new GenericDatumWriter<GenericRecord>(schema).write(record, encoder);
        encoder.flush();
        return out.toByteArray();
    }

    private static GenericRecord read(byte[] bytes, Schema writer, Schema reader) throws IOException {
        return new GenericDatumReader<GenericRecord>(writer, reader)
                .read(null, DecoderFactory.get().binaryDecoder(bytes, null));
    }
}
