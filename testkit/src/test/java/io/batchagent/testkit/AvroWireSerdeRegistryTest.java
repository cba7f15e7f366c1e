package io.batchagent.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.batchagent.events.AgentJob;
import io.batchagent.schemas.serde.AvroWireSerde;
import io.batchagent.schemas.serde.RestSchemaRegistry;
import io.batchagent.schemas.serde.SchemaRegistryUnavailableException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link AvroWireSerde} against a registry that speaks Confluent's REST API. */
class AvroWireSerdeRegistryTest {

    private static final String TOPIC = "agent-jobs";
    private static final AgentJob JOB = AgentJob.newBuilder()
            .setJobId("job-1")
            .setBatchId("batch-1")
            .setIndex(7)
            .setInputJson("{\"city\":\"Oslo\"}")
            .setSubmittedAtMs(1_700_000_000_000L)
            .build();

    private InProcessSchemaRegistry registry;

    @BeforeEach
    void startRegistry() {
        registry = InProcessSchemaRegistry.start();
    }

    @AfterEach
    void stopRegistry() {
        registry.close();
    }

    @Test
    void shouldWriteMagicByteAndTheRegistryIdAndRegisterOnlyOnce() {
        // Given
        AvroWireSerde<AgentJob> serde = configuredSerde();

        // When
        byte[] bytes = serde.serialize(TOPIC, JOB);
        serde.serialize(TOPIC, JOB);
        serde.serialize(TOPIC, JOB);

        // Then
        assertThat(bytes[0]).isZero();
        int id = ByteBuffer.wrap(bytes, 1, 4).getInt();
        assertThat(registry.latestId(TOPIC + "-value")).contains(id);
        assertThat(registry.registerCalls()).isEqualTo(1);
    }

    @Test
    void shouldFetchTheSchemaByIdWhenAFreshSerdeReads() {
        // Given: bytes written through the registry
        byte[] bytes = configuredSerde().serialize(TOPIC, JOB);
        int id = ByteBuffer.wrap(bytes, 1, 4).getInt();

        // When: a serde with its own registry client reads them
        AvroWireSerde<AgentJob> reader = new AvroWireSerde<>(AgentJob.class, new RestSchemaRegistry(registry.url()));
        AgentJob read = reader.deserialize(TOPIC, bytes);

        // Then
        assertThat(read).isEqualTo(JOB);
        assertThat(registry.schemaByIdCalls()).isEqualTo(1);
        assertThat(reader.deserialize(TOPIC, bytes)).isEqualTo(JOB);
        assertThat(registry.schemaByIdCalls())
                .as("schema %d is cached after the first read", id)
                .isEqualTo(1);
    }

    @Test
    void shouldRejectBytesWithoutTheMagicByteNamingTheTopic() {
        // Given
        byte[] bytes = configuredSerde().serialize(TOPIC, JOB);
        bytes[0] = 1;

        // When / Then
        assertThatThrownBy(() -> configuredSerde().deserialize(TOPIC, bytes))
                .isInstanceOf(SerializationException.class)
                .hasMessageContaining(TOPIC);
    }

    private AvroWireSerde<AgentJob> configuredSerde() {
        AvroWireSerde<AgentJob> serde = new AvroWireSerde<>(AgentJob.class);
        serde.configure(Map.of("schema.registry.url", registry.url()), false);
        return serde;
    }

    @Test
    void shouldRetryARegistryThatAnswers503UntilItRecovers() {
        // Given bytes written through the registry, and a registry that fails the next three calls
        byte[] bytes = configuredSerde().serialize(TOPIC, JOB);
        registry.failNextCalls(3, 503);
        AvroWireSerde<AgentJob> reader =
                new AvroWireSerde<>(AgentJob.class, new RestSchemaRegistry(registry.url(), Duration.ofSeconds(30)));

        // When
        AgentJob read = reader.deserialize(TOPIC, bytes);

        // Then the fourth attempt succeeded
        assertThat(read).isEqualTo(JOB);
        assertThat(registry.schemaByIdCalls()).isEqualTo(4);
    }

    @Test
    void shouldFailRetriablyWhenTheRegistryStaysUnavailable() {
        byte[] bytes = configuredSerde().serialize(TOPIC, JOB);
        registry.failNextCalls(1_000, 503);
        AvroWireSerde<AgentJob> reader =
                new AvroWireSerde<>(AgentJob.class, new RestSchemaRegistry(registry.url(), Duration.ZERO));

        assertThatThrownBy(() -> reader.deserialize(TOPIC, bytes))
                .isInstanceOf(SchemaRegistryUnavailableException.class)
                .isInstanceOf(RetriableException.class)
                .hasMessageContaining("HTTP 503");
    }

    @Test
    void shouldFailAtOnceWithoutRetryingAnUnknownSchemaId() {
        byte[] bytes = configuredSerde().serialize(TOPIC, JOB);
        ByteBuffer.wrap(bytes, 1, 4).putInt(4242);
        int callsBefore = registry.schemaByIdCalls();

        assertThatThrownBy(() -> configuredSerde().deserialize(TOPIC, bytes))
                .isInstanceOf(SerializationException.class)
                .isNotInstanceOf(RetriableException.class)
                .hasMessageContaining("40403");
        assertThat(registry.schemaByIdCalls() - callsBefore).isEqualTo(1);
    }
}
