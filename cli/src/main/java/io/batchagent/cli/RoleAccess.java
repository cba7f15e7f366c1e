package io.batchagent.cli;

import io.batchagent.observability.ClusterMonitor;
import io.batchagent.schemas.Topics;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.apache.kafka.streams.TopologyDescription;

/**
 * What a process running some stages does on Kafka, as access-control entries: derived from the topic
 * catalogue, from the Streams apps' own topologies ({@code Topology.describe()}) and from what the workers
 * and the cluster monitor consume and produce. A deployment that authorises each role (deploy/k8s's
 * Strimzi {@code KafkaUser}s) grants exactly these; deploy/'s tests hold the manifests to it.
 *
 * <ul>
 *   <li>Topics read: Read and Describe; topics written: Write and Describe. A Streams app also writes
 *       dead letters (its deserialization handler) and owns every topic, group and transactional id that
 *       starts with its application id (internal topics; exactly-once producers).
 *   <li>Each stage's consumer group: Read.
 *   <li>The cluster monitor (with the workflow stage, when the process serves metrics): Read on what it counts,
 *       Read on its group, and Describe on every stage's group and every catalogue topic, to publish lag.
 * </ul>
 */
public record RoleAccess(SortedSet<Acl> acls) {

    /** Resource types and operations as Kafka and Strimzi name them. */
    public static final String TOPIC = "topic";

    public static final String GROUP = "group";
    public static final String TRANSACTIONAL_ID = "transactionalId";

    /**
     * One entry: {@code operations} on the resource {@code type}/{@code name}, the name read literally or as
     * a prefix.
     */
    public record Acl(String type, String name, boolean prefix, SortedSet<String> operations)
            implements Comparable<Acl> {
        private static final Comparator<Acl> ORDER =
                Comparator.comparing(Acl::type).thenComparing(Acl::name).thenComparing(Acl::prefix);

        public Acl {
            operations = new TreeSet<>(operations);
        }

        @Override
        public int compareTo(Acl other) {
            return ORDER.compare(this, other);
        }
    }

    /** The topics a stage reads and writes (catalogue names). */
    public record StageTopics(SortedSet<String> reads, SortedSet<String> writes) {
        /** Both, for provisioning. */
        public Set<String> all() {
            Set<String> all = new TreeSet<>(reads);
            all.addAll(writes);
            return all;
        }
    }

    /**
     * The access of a process that runs {@code stages} under {@code config}.
     *
     * @param monitor whether it also runs the cluster monitor (a process with {@code --metrics-port} and the
     *     workflow stage)
     */
    public static RoleAccess of(Set<Stage> stages, PipelineConfig config, boolean monitor) {
        Topics topics = Topics.create(config.topicPrefix(), config.serdeConfig());
        Map<Key, SortedSet<String>> entries = new TreeMap<>();
        for (Stage stage : stages) {
            StageTopics used = topics(stage, config, topics);
            used.reads().forEach(topic -> grant(entries, TOPIC, topic, false, "Read", "Describe"));
            used.writes().forEach(topic -> grant(entries, TOPIC, topic, false, "Write", "Describe"));
            String group = Pipeline.groupId(config, stage);
            grant(entries, GROUP, group, false, "Read");
            if (stage.isStreamsApp()) {
                grant(entries, TOPIC, group + "-", true, "All");
                grant(entries, TRANSACTIONAL_ID, group + "-", true, "Write", "Describe");
            }
        }
        if (monitor && stages.contains(Stage.WORKFLOW)) {
            ClusterMonitor.topicsRead(topics).forEach(topic -> grant(entries, TOPIC, topic, false, "Read", "Describe"));
            grant(entries, GROUP, ProcessOps.monitorGroupId(config), false, "Read");
            for (Stage stage : Stage.values()) {
                grant(entries, GROUP, Pipeline.groupId(config, stage), false, "Describe");
            }
            topics.all().forEach(topic -> grant(entries, TOPIC, topic.name(), false, "Describe"));
        }
        SortedSet<Acl> acls = new TreeSet<>();
        entries.forEach((key, operations) -> acls.add(new Acl(key.type(), key.name(), key.prefix(), operations)));
        return new RoleAccess(acls);
    }

    /** The catalogue topics {@code stages} read or write: the ones a process running them needs to exist. */
    public static Set<String> topicsUsed(Collection<Stage> stages, PipelineConfig config, Topics topics) {
        Set<String> used = new LinkedHashSet<>();
        for (Stage stage : stages) {
            used.addAll(topics(stage, config, topics).all());
        }
        return used;
    }

    /**
     * The catalogue topics {@code stage} reads and writes: for a Streams app, its topology's sources, global
     * stores and sinks, plus dead letters; for a worker, what its consumer subscribes to and its producer sends to.
     */
    public static StageTopics topics(Stage stage, PipelineConfig config, Topics topics) {
        return switch (stage) {
            case INFERENCE ->
                new StageTopics(
                        names(topics.agentContinuations(), topics.agentTurns(), topics.batchSpecs()),
                        names(
                                topics.results(),
                                topics.toolRequests(),
                                topics.agentWaits(),
                                topics.toolResponses(),
                                topics.deadLetters()));
            case TOOLS -> new StageTopics(names(topics.toolCalls()), names(topics.toolResults(), topics.deadLetters()));
            default -> streamsTopics(Pipeline.topology(stage, config, topics).describe(), topics);
        };
    }

    private static StageTopics streamsTopics(TopologyDescription description, Topics topics) {
        Set<String> catalogue = topics.all().stream().map(Topics.Topic::name).collect(Collectors.toSet());
        SortedSet<String> reads = new TreeSet<>();
        SortedSet<String> writes = new TreeSet<>();
        for (TopologyDescription.Subtopology subtopology : description.subtopologies()) {
            for (TopologyDescription.Node node : subtopology.nodes()) {
                if (node instanceof TopologyDescription.Source source && source.topicSet() != null) {
                    reads.addAll(source.topicSet());
                } else if (node instanceof TopologyDescription.Sink sink && sink.topic() != null) {
                    writes.add(sink.topic());
                }
            }
        }
        for (TopologyDescription.GlobalStore store : description.globalStores()) {
            reads.addAll(store.source().topicSet());
        }
        // Internal (repartition) topics are the app's own, under its prefix; only catalogue topics are shared.
        reads.retainAll(catalogue);
        writes.retainAll(catalogue);
        writes.add(topics.deadLetters().name());
        return new StageTopics(reads, writes);
    }

    private static SortedSet<String> names(Topics.Topic<?, ?>... topics) {
        return List.of(topics).stream().map(Topics.Topic::name).collect(Collectors.toCollection(TreeSet::new));
    }

    private record Key(String type, String name, boolean prefix) implements Comparable<Key> {
        @Override
        public int compareTo(Key other) {
            return Comparator.comparing(Key::type)
                    .thenComparing(Key::name)
                    .thenComparing(Key::prefix)
                    .compare(this, other);
        }
    }

    private static void grant(
            Map<Key, SortedSet<String>> entries, String type, String name, boolean prefix, String... operations) {
        entries.computeIfAbsent(new Key(type, name, prefix), k -> new TreeSet<>())
                .addAll(List.of(operations));
    }
}
