package io.batchagent.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.AgentResult;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobError;
import io.batchagent.events.JobStatus;
import io.batchagent.events.Timings;
import io.batchagent.events.Usage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.junit.jupiter.api.Test;

/** ErrorReason grows at its end with a default, so results written before and after a new symbol stay readable. */
class ErrorReasonEvolutionTest {

    static {
        Topics.create("test.", Map.of()); // makes Avro trust the event classes (see AvroWireSerde)
    }

    /** AgentResult as it was before ENGINE_UNAVAILABLE and the symbols after it. */
    private static final Schema BEFORE = new Schema.Parser()
            .parse(AgentResult.getClassSchema().toString().replaceFirst("(\"STALLED\")[^\\]]*\\]", "$1]"));

    private static AgentResult failed(ErrorReason reason) {
        return AgentResult.newBuilder()
                .setJobId("job-1")
                .setBatchId("b")
                .setIndex(0)
                .setStatus(JobStatus.FAILED)
                .setError(JobError.newBuilder()
                        .setReason(reason)
                        .setMessage("why")
                        .build())
                .setTurns(1)
                .setUsage(Usage.newBuilder().build())
                .setTimings(Timings.newBuilder().build())
                .setFinishedAtMs(1L)
                .build();
    }

    private static byte[] write(Schema schema, AgentResult result) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(bytes, null);
        new SpecificDatumWriter<AgentResult>(schema).write(result, encoder);
        encoder.flush();
        return bytes.toByteArray();
    }

    @Test
    void shouldReadAResultWrittenBeforeEngineUnavailableExisted() throws IOException {
        assertThat(BEFORE.toString()).doesNotContain("\"ENGINE_UNAVAILABLE\"");
        byte[] old = write(BEFORE, failed(ErrorReason.ENGINE_ERROR));

        AgentResult read = new SpecificDatumReader<AgentResult>(BEFORE, AgentResult.getClassSchema())
                .read(null, DecoderFactory.get().binaryDecoder(old, null));

        assertThat(read.getError().getReason()).isEqualTo(ErrorReason.ENGINE_ERROR);
    }

    @Test
    void shouldLetAnOlderReaderSeeEngineUnavailableAsOther() throws IOException {
        byte[] current = write(AgentResult.getClassSchema(), failed(ErrorReason.ENGINE_UNAVAILABLE));

        GenericRecord read = new GenericDatumReader<GenericRecord>(AgentResult.getClassSchema(), BEFORE)
                .read(null, DecoderFactory.get().binaryDecoder(current, null));

        assertThat(((GenericRecord) read.get("error")).get("reason").toString()).isEqualTo("OTHER");
    }
}
