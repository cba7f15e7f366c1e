package io.batchagent.schemas;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Creates the catalogue's topics that do not exist yet. Every topic gets the same partition count,
 * because topics joined by key (agent-waits with tool-responses, tool-requests with tool-results)
 * must be co-partitioned; compacted topics get {@code cleanup.policy=compact}; every topic gets the
 * {@code max.message.bytes} of the catalogue's {@link RecordLimits}. A catalogue topic that exists with
 * a lower {@code max.message.bytes} is left alone and reported: records within the budget may be
 * refused there.
 */
public final class TopicProvisioner {

    private static final Logger LOGGER = LoggerFactory.getLogger(TopicProvisioner.class);

    /** How long a starting process waits for its cluster to answer. */
    private static final Duration STARTUP_WAIT = Duration.ofMinutes(3);
    /** One attempt to list the topics. */
    private static final Duration LIST_TIMEOUT = Duration.ofSeconds(15);

    private TopicProvisioner() {}

    /**
     * The topic-level settings the catalogue gives {@code topic} when it is created; a deployment that
     * creates topics itself (Strimzi {@code KafkaTopic}, deploy/k8s) must set the same.
     */
    public static Map<String, String> topicConfigs(Topics topics, Topics.Topic<String, ?> topic) {
        Map<String, String> configs = new HashMap<>(topics.limits().topicConfig());
        configs.put(
                TopicConfig.CLEANUP_POLICY_CONFIG,
                topic.compacted() ? TopicConfig.CLEANUP_POLICY_COMPACT : TopicConfig.CLEANUP_POLICY_DELETE);
        return configs;
    }

    /**
     * Ensures every topic of {@code topics} exists. Idempotent; safe to race with another process.
     *
     * @param replicationFactor {@code -1} for the broker default
     */
    public static void ensure(Admin admin, Topics topics, int partitions, short replicationFactor) {
        ensure(admin, topics, topics.all(), partitions, replicationFactor);
    }

    /**
     * Ensures each of {@code which}, topics of the catalogue {@code topics}, exists (a process creates only the topics its stages use, so that a
     * principal allowed exactly those never asks for another). Idempotent; safe to race with another process.
     *
     * @param replicationFactor {@code -1} for the broker default
     */
    public static void ensure(
            Admin admin,
            Topics topics,
            Collection<Topics.Topic<String, ?>> which,
            int partitions,
            short replicationFactor) {
        try {
            Set<String> existing = listTopics(admin);
            List<NewTopic> missing = new ArrayList<>();
            for (Topics.Topic<String, ?> topic : which) {
                if (!existing.contains(topic.name())) {
                    NewTopic newTopic = new NewTopic(
                            topic.name(),
                            java.util.Optional.of(partitions),
                            replicationFactor < 0
                                    ? java.util.Optional.empty()
                                    : java.util.Optional.of(replicationFactor));
                    newTopic.configs(topicConfigs(topics, topic));
                    missing.add(newTopic);
                }
            }
            warnAboutSmallerLimits(admin, topics, which, existing);
            if (missing.isEmpty()) {
                return;
            }
            admin.createTopics(missing).values().forEach((name, future) -> {
                try {
                    future.get(30, TimeUnit.SECONDS);
                    LOGGER.info("created topic={} partitions={}", name, partitions);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw new IllegalStateException(
                                "cannot create topic " + name + ": "
                                        + e.getCause().getMessage(),
                                e.getCause());
                    }
                } catch (InterruptedException | TimeoutException e) {
                    throw new IllegalStateException("timed out creating topic " + name, e);
                }
            });
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while listing topics", e);
        }
    }

    /**
     * Lists the cluster's topics, waiting out a broker that is not reachable yet (a process started
     * with its cluster, or while a broker restarts) for up to {@link #STARTUP_WAIT}; a fault that is
     * not transient (authorization, a bad listener) fails at once.
     */
    private static Set<String> listTopics(Admin admin) throws InterruptedException {
        long deadline = System.nanoTime() + STARTUP_WAIT.toNanos();
        for (int attempt = 1; ; attempt++) {
            try {
                return admin.listTopics().names().get(LIST_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            } catch (ExecutionException | TimeoutException e) {
                Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
                boolean transientFault = cause instanceof TimeoutException || cause instanceof RetriableException;
                if (!transientFault || System.nanoTime() > deadline) {
                    throw new IllegalStateException(
                            "cannot list topics"
                                    + (transientFault
                                            ? " within " + STARTUP_WAIT.toSeconds()
                                                    + " s (is the broker up and its address right?)"
                                            : "")
                                    + ": "
                                    + cause,
                            cause);
                }
                LOGGER.warn("cannot reach the cluster yet (attempt {}: {}); retrying", attempt, cause.toString());
            }
        }
    }

    /** Existing topics keep their configuration; one that refuses records within the budget is worth a warning. */
    private static void warnAboutSmallerLimits(
            Admin admin, Topics topics, Collection<Topics.Topic<String, ?>> which, Set<String> existing) {
        List<ConfigResource> resources = which.stream()
                .map(Topics.Topic::name)
                .filter(existing::contains)
                .map(name -> new ConfigResource(ConfigResource.Type.TOPIC, name))
                .toList();
        if (resources.isEmpty()) {
            return;
        }
        int required = topics.limits().maxMessageBytes();
        try {
            admin.describeConfigs(resources).all().get(30, TimeUnit.SECONDS).forEach((resource, config) -> {
                ConfigEntry entry = config.get(TopicConfig.MAX_MESSAGE_BYTES_CONFIG);
                if (entry != null && entry.value() != null && Long.parseLong(entry.value()) < required) {
                    LOGGER.warn(
                            "topic={} has max.message.bytes={} below the record budget's {} ({}={}): records "
                                    + "within the budget may be refused; raise it with kafka-configs --alter",
                            resource.name(),
                            entry.value(),
                            required,
                            RecordLimits.MAX_RECORD_BYTES_CONFIG,
                            topics.limits().maxRecordBytes());
                }
            });
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            LOGGER.warn("cannot check max.message.bytes of existing topics: {}", e.toString());
        }
    }
}
