package io.batchagent.cli;

import io.batchagent.schemas.Topics;
import java.util.List;
import java.util.Map;

/** Reads a whole topic as it is now (committed records only), for assertions; see testkit's {@link io.batchagent.testkit.TopicContents}. */
final class TopicContents {

    private TopicContents() {}

    static <V> List<V> read(Map<String, Object> kafkaConfig, Topics.Topic<String, V> topic) {
        return io.batchagent.testkit.TopicContents.read(kafkaConfig, topic);
    }
}
