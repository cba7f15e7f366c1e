package io.batchagent.topology;

import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.processor.TaskId;

/** What the error handlers' tests share: a context for the record being handled. */
final class HandlerFixtures {

    private HandlerFixtures() {}

    record Context(
            String topic,
            int partition,
            long offset,
            String processorNodeId,
            Headers headers,
            byte[] sourceRawKey,
            byte[] sourceRawValue)
            implements ErrorHandlerContext {
        Context(String topic, int partition, long offset) {
            this(topic, partition, offset, "source", new RecordHeaders(), null, null);
        }

        @Override
        public TaskId taskId() {
            return new TaskId(0, partition);
        }

        @Override
        public long timestamp() {
            return 0;
        }
    }

    /** The context Kafka Streams gives a record of a global table: the global task is {@code -1_-1}. */
    record GlobalContext(String topic, int partition, long offset) implements ErrorHandlerContext {
        @Override
        public String processorNodeId() {
            return "global-source";
        }

        @Override
        public Headers headers() {
            return new RecordHeaders();
        }

        @Override
        public byte[] sourceRawKey() {
            return null;
        }

        @Override
        public byte[] sourceRawValue() {
            return null;
        }

        @Override
        public TaskId taskId() {
            return new TaskId(-1, -1);
        }

        @Override
        public long timestamp() {
            return 0;
        }
    }
}
