package io.batchagent.topology;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.schemas.RecordLimits;
import io.batchagent.schemas.serde.SchemaRegistryUnavailableException;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsException;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.junit.jupiter.api.Test;

class StreamsSettingsTest {

    @Test
    void shouldRunEveryTopologyUnderTheRecordBudgetWithZstd() {
        Properties props = StreamsSettings.defaults("app", Map.of("bootstrap.servers", "k:9092"), "")
                .withSerdeConfig(Map.of(RecordLimits.MAX_RECORD_BYTES_CONFIG, "2097152"))
                .toProperties();

        RecordLimits limits = new RecordLimits(2_097_152);
        assertThat(props.get("producer.max.request.size")).isEqualTo(limits.maxRequestBytes());
        assertThat(props.get("topic.max.message.bytes")).isEqualTo(limits.maxMessageBytes());
        assertThat(props.get("producer.compression.type")).isEqualTo("zstd");
        assertThat(props.get(StreamsConfig.PRODUCTION_EXCEPTION_HANDLER_CLASS_CONFIG))
                .isEqualTo(ProductionFailureHandler.class.getName());
        assertThat(props.get(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_CLASS_CONFIG))
                .isEqualTo(ProcessingFailureHandler.class.getName());
        assertThat(props.get(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG))
                .isEqualTo(DeadLetterHandler.class.getName());
    }

    @Test
    void shouldCommitExactlyOnceOutputEveryTwentyMillisecondsWithOneProduceRequestInFlight() {
        Properties props = StreamsSettings.defaults("app", Map.of("bootstrap.servers", "k:9092"), "")
                .toProperties();

        assertThat(props.get(StreamsConfig.PROCESSING_GUARANTEE_CONFIG)).isEqualTo(StreamsConfig.EXACTLY_ONCE_V2);
        assertThat(props.get(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG)).isEqualTo(20L);
        assertThat(props.get("producer.max.in.flight.requests.per.connection")).isEqualTo(1);
        assertThat(props).doesNotContainKey("producer.retry.backoff.ms");
    }

    @Test
    void shouldLeaveProducerPipeliningAloneUnderAtLeastOnce() {
        Properties props = StreamsSettings.defaults("app", Map.of("bootstrap.servers", "k:9092"), "")
                .withExactlyOnce(false)
                .toProperties();

        assertThat(props.get(StreamsConfig.PROCESSING_GUARANTEE_CONFIG)).isEqualTo(StreamsConfig.AT_LEAST_ONCE);
        assertThat(props).doesNotContainKey("producer.max.in.flight.requests.per.connection");
    }

    @Test
    void shouldLetTheDeploymentOverrideTheProducerPipeliningAndTheCommitInterval() {
        Properties props = StreamsSettings.defaults(
                        "app",
                        Map.of(
                                "bootstrap.servers",
                                "k:9092",
                                "producer.max.in.flight.requests.per.connection",
                                5,
                                "commit.interval.ms",
                                100L),
                        "")
                .toProperties();

        assertThat(props.get("producer.max.in.flight.requests.per.connection")).isEqualTo(5);
        assertThat(props.get(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG)).isEqualTo(100L);
    }

    @Test
    void shouldKeepACompressionTypeTheDeploymentChose() {
        Properties props = StreamsSettings.defaults(
                        "app", Map.of("bootstrap.servers", "k:9092", "compression.type", "lz4"), "")
                .toProperties();

        assertThat(props).doesNotContainKey("producer.compression.type");
        assertThat(props.get("compression.type")).isEqualTo("lz4");
    }

    @Test
    void shouldReplaceAThreadOnlyForTransientFaults() {
        StreamsUncaughtExceptionHandler policy = StreamsSettings.threadFailurePolicy("job-compiler");

        assertThat(policy.handle(new StreamsException(new SerializationException(
                        "wrapped", new SchemaRegistryUnavailableException("HTTP 503", null)))))
                .isEqualTo(StreamThreadExceptionResponse.REPLACE_THREAD);
        assertThat(policy.handle(new StreamsException(new IllegalStateException("a bug"))))
                .isEqualTo(StreamThreadExceptionResponse.SHUTDOWN_CLIENT);
        // Kafka Streams 4.4 after a commit timed out while the broker restarted (seen in the fault campaign)
        assertThat(
                        policy.handle(
                                new StreamsException(
                                        new IllegalStateException(
                                                "Cannot attempt operation "
                                                        + "`sendOffsetsToTransaction` because the previous call to `commitTransaction` timed out and must be retried"))))
                .isEqualTo(StreamThreadExceptionResponse.REPLACE_THREAD);
    }
}
