package io.batchagent.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.Compaction;
import io.batchagent.events.CompactionMode;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobError;
import io.batchagent.events.JobStatus;
import io.batchagent.events.Timings;
import io.batchagent.events.Usage;
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
 * The compaction fields (issue 13) are compatible both ways: records written before them decode with
 * the new schemas (defaults fill in), and readers of the old schemas still decode new records (an
 * unknown ErrorReason reads as OTHER). The "old" schemas are the current ones less what issue 13 added.
 */
class CompactionSchemaEvolutionTest {

    @Test
    void shouldDecodeAnOldResultWithNoCompactions() throws IOException {
        Schema old = without(AgentResult.getClassSchema(), "compactions");
        GenericRecord written = new GenericRecordBuilder(old)
                .set("jobId", "j1")
                .set("batchId", "b1")
                .set("index", 0L)
                .set("status", new GenericData.EnumSymbol(old.getField("status").schema(), "SUCCEEDED"))
                .set("outputJson", "{}")
                .set("turns", 3)
                .set("usage", new GenericRecordBuilder(old.getField("usage").schema()).build())
                .set("timings", new GenericRecordBuilder(old.getField("timings").schema()).build())
                .set("finishedAtMs", 1L)
                .build();

        GenericRecord read = read(write(old, written), old, AgentResult.getClassSchema());

        assertThat((List<?>) read.get("compactions")).isEmpty();
        assertThat(read.get("turns")).isEqualTo(3);
    }

    @Test
    void shouldDecodeAnOldTurnAndSpecWithTheDefaults() throws IOException {
        Schema oldTurn = without(AgentTurn.getClassSchema(), "compactions");
        GenericRecord turn = new GenericRecordBuilder(oldTurn)
                .set("jobId", "j1")
                .set("batchId", "b1")
                .set("index", 0L)
                .set("turn", 2)
                .set("messages", List.of())
                .set("usage", new GenericRecordBuilder(oldTurn.getField("usage").schema()).build())
                .set(
                        "timings",
                        new GenericRecordBuilder(oldTurn.getField("timings").schema()).build())
                .set("submittedAtMs", 1L)
                .set("emittedAtMs", 2L)
                .build();
        assertThat((List<?>) read(write(oldTurn, turn), oldTurn, AgentTurn.getClassSchema())
                        .get("compactions"))
                .isEmpty();

        Schema oldSpec = without(BatchSpec.getClassSchema(), "compaction");
        GenericRecord spec = new GenericRecordBuilder(oldSpec)
                .set("batchId", "b1")
                .set("model", "m")
                .set("taskTemplate", "t")
                .build();
        assertThat(read(write(oldSpec, spec), oldSpec, BatchSpec.getClassSchema())
                        .get("compaction"))
                .isNull();
    }

    @Test
    void shouldLetAnOldReaderDecodeCompactionsAndContextExhaustedAsOther() throws IOException {
        AgentResult result = AgentResult.newBuilder()
                .setJobId("j1")
                .setBatchId("b1")
                .setIndex(0)
                .setStatus(JobStatus.FAILED)
                .setError(JobError.newBuilder()
                        .setReason(ErrorReason.CONTEXT_EXHAUSTED)
                        .setMessage("too big")
                        .build())
                .setTurns(9)
                .setUsage(Usage.newBuilder().build())
                .setTimings(Timings.newBuilder().build())
                .setFinishedAtMs(1)
                .setCompactions(List.of(Compaction.newBuilder()
                        .setTurn(5)
                        .setMode(CompactionMode.TRUNCATE)
                        .setTurnsCompacted(2)
                        .setTokensBefore(900)
                        .setTokensAfter(300)
                        .build()))
                .build();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Encoder encoder = EncoderFactory.get().binaryEncoder(out, null);
        new SpecificDatumWriter<>(AgentResult.class).write(result, encoder);
        encoder.flush();
        Schema old = withoutReasonsFrom(without(AgentResult.getClassSchema(), "compactions"), "CONTEXT_EXHAUSTED");

        GenericRecord read = new GenericDatumReader<GenericRecord>(AgentResult.getClassSchema(), old)
                .read(null, DecoderFactory.get().binaryDecoder(out.toByteArray(), null));

        assertThat(((GenericRecord) read.get("error")).get("reason").toString()).isEqualTo("OTHER");
        assertThat(read.get("turns")).isEqualTo(9);
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

    /** The result schema with an ErrorReason enum that ends just before {@code firstNew}. */
    private static Schema withoutReasonsFrom(Schema result, String firstNew) {
        Schema errorUnion = result.getField("error").schema();
        Schema error = errorUnion.getTypes().get(1);
        Schema reasons = error.getField("reason").schema();
        List<String> symbols =
                reasons.getEnumSymbols().subList(0, reasons.getEnumSymbols().indexOf(firstNew));
        Schema oldReasons =
                Schema.createEnum(reasons.getName(), reasons.getDoc(), reasons.getNamespace(), symbols, "OTHER");
        Schema oldError = Schema.createRecord(
                error.getName(),
                error.getDoc(),
                error.getNamespace(),
                false,
                List.of(
                        new Schema.Field("reason", oldReasons),
                        new Schema.Field(
                                error.getField("message"),
                                error.getField("message").schema())));
        List<Schema.Field> fields = new ArrayList<>();
        for (Schema.Field f : result.getFields()) {
            fields.add(
                    f.name().equals("error")
                            ? new Schema.Field(
                                    f, Schema.createUnion(errorUnion.getTypes().get(0), oldError))
                            : new Schema.Field(f, f.schema()));
        }
        return Schema.createRecord(result.getName(), result.getDoc(), result.getNamespace(), false, fields);
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
