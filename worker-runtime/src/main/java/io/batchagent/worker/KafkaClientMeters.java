package io.batchagent.worker;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.producer.Producer;

/** Binds a worker's Kafka clients to a Micrometer registry with Micrometer's {@link KafkaClientMetrics}. */
public final class KafkaClientMeters {

    private KafkaClientMeters() {}

    /**
     * Binds the metrics of {@code consumer} and {@code producer} to {@code registry}, refreshed every
     * {@code refresh} on {@code scheduler} (which stays the caller's); closing the handle unbinds them.
     */
    public static AutoCloseable bind(
            Consumer<?, ?> consumer,
            Producer<?, ?> producer,
            MeterRegistry registry,
            Iterable<Tag> tags,
            ScheduledExecutorService scheduler,
            Duration refresh) {
        KafkaClientMetrics consumerMetrics = new KafkaClientMetrics(consumer, tags, scheduler, refresh);
        KafkaClientMetrics producerMetrics = new KafkaClientMetrics(producer, tags, scheduler, refresh);
        consumerMetrics.bindTo(registry);
        producerMetrics.bindTo(registry);
        return () -> {
            consumerMetrics.close();
            producerMetrics.close();
        };
    }
}
