package io.batchagent.topology;

import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.processor.TaskId;

/** What the error handlers' tests share: a context for the record being handled. */
final class HandlerFixtures {

    private HandlerFixtures() {}

    record Context(String topic, int partition, long offset, String processorNodeId, Headers headers,
                   byte[] sourceRawKey, byte[] sourceRawValue) implements ErrorHandlerContext {
        Context(String topic, int partition, long offset) {
            this(topic, partition, offset, "source", new RecordHeaders(), null, null);
        }

        @Override public TaskId taskId() { return new TaskId(0, partition); }
        @Override public long timestamp() { return 0; }
    }
}
