package io.batchagent.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.AgentJob;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.Role;
import io.batchagent.events.state.MapOutcome;
import io.batchagent.schemas.serde.AvroWireSerde;
import io.batchagent.schemas.serde.FingerprintSchemaIds;
import java.nio.ByteBuffer;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@link AvroWireSerde} with no registry URL: ids from {@link FingerprintSchemaIds}. */
class AvroWireSerdeEmbeddedTest {

    @Test
    void shouldRoundTripWithFingerprintIdsWhenNoRegistryIsConfigured() {
        // Given
        AgentJob job = AgentJob.newBuilder()
                .setJobId("job-2")
                .setBatchId("batch-2")
                .setIndex(0)
                .setInputJson("{}")
                .setSubmittedAtMs(42L)
                .build();
        AvroWireSerde<AgentJob> writer = new AvroWireSerde<>(AgentJob.class);
        writer.configure(Map.of(), false);
        AvroWireSerde<AgentJob> reader = new AvroWireSerde<>(AgentJob.class);
        reader.configure(Map.of(), false);

        // When
        byte[] bytes = writer.serialize("agent-jobs", job);
        AgentJob read = reader.deserialize("agent-jobs", bytes);

        // Then
        assertThat(bytes[0]).isZero();
        assertThat(ByteBuffer.wrap(bytes, 1, 4).getInt())
                .isEqualTo(FingerprintSchemaIds.idOf(AgentJob.getClassSchema()));
        assertThat(read).isEqualTo(job);
    }

    @Test
    void shouldReadStateStoreValuesInAFreshProcessThatHasWrittenNoneYet() {
        // A stage restarted after a crash reads its stores back (RocksDB, changelog) before it writes a value.
        ChatMessage message = ChatMessage.newBuilder()
                .setRole(Role.TOOL)
                .setContent("page text")
                .setToolCallId("call-1")
                .build();
        MapOutcome outcome = MapOutcome.newBuilder()
                .setIndex(3)
                .setStatus("SUCCEEDED")
                .setOutputJson("{}")
                .build();

        byte[] messageBytes = new AvroWireSerde<>(ChatMessage.class, new FingerprintSchemaIds())
                .serialize("app-turn-conversations-changelog", message);
        byte[] outcomeBytes = new AvroWireSerde<>(MapOutcome.class, new FingerprintSchemaIds())
                .serialize("app-map-outcomes-changelog", outcome);

        assertThat(new AvroWireSerde<>(ChatMessage.class, new FingerprintSchemaIds())
                        .deserialize("app-turn-conversations-changelog", messageBytes))
                .isEqualTo(message);
        assertThat(new AvroWireSerde<>(MapOutcome.class, new FingerprintSchemaIds())
                        .deserialize("app-map-outcomes-changelog", outcomeBytes))
                .isEqualTo(outcome);
    }
}
