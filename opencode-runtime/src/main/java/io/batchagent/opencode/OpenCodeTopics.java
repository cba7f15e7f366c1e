package io.batchagent.opencode;

import io.batchagent.events.AgentJob;
import io.batchagent.schemas.Topics;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.Serdes;

/**
 * The topic OpenCode jobs travel on, beside BatchAgent's catalogue: {@code <prefix>opencode-jobs}, keyed
 * by job id, {@link AgentJob} values in the catalogue's serde.
 *
 * <p>OpenCode jobs do not go on {@code agent-jobs}: the job compiler would turn them into turns for the
 * inference workers. Everything else is shared with the rest of BatchAgent: specs on {@code batch-specs},
 * results on {@code results} (so {@code BatchClient.await}, resume, cancel and the batch summary work
 * unchanged).
 */
public final class OpenCodeTopics {

    public static final String JOBS = "opencode-jobs";

    private final Topics catalogue;
    private final Topics.Topic<String, AgentJob> jobs;

    private OpenCodeTopics(Topics catalogue, String prefix) {
        this.catalogue = catalogue;
        this.jobs = new Topics.Topic<>(prefix + JOBS, Serdes.String(), catalogue.serde(AgentJob.class), false);
    }

    /** @param prefix the catalogue's topic prefix (the same {@code --topic-prefix}) */
    public static OpenCodeTopics of(Topics catalogue, String prefix) {
        return new OpenCodeTopics(catalogue, prefix == null ? "" : prefix);
    }

    public Topics catalogue() {
        return catalogue;
    }

    public Topics.Topic<String, AgentJob> jobs() {
        return jobs;
    }

    /**
     * Creates the jobs topic if it is missing, with {@code partitions} partitions. Idempotent.
     *
     * @param replicationFactor {@code -1} for the broker default
     */
    public void ensure(Admin admin, int partitions, short replicationFactor) {
        try {
            if (admin.listTopics().names().get(30, TimeUnit.SECONDS).contains(jobs.name())) {
                return;
            }
            NewTopic topic = new NewTopic(
                    jobs.name(),
                    Optional.of(partitions),
                    replicationFactor < 0 ? Optional.empty() : Optional.of(replicationFactor));
            admin.createTopics(List.of(topic)).all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new IllegalStateException(
                        "cannot create topic " + jobs.name() + ": "
                                + e.getCause().getMessage(),
                        e.getCause());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating topic " + jobs.name(), e);
        } catch (TimeoutException e) {
            throw new IllegalStateException("timed out creating topic " + jobs.name(), e);
        }
    }
}
