package io.batchagent.topology;

import io.batchagent.schemas.RecordLimits;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kafka Streams settings every BatchAgent topology runs with.
 *
 * <p>Exactly-once (v2) by default: a coalescer or assembler that crashes and replays must not emit a
 * second tool call or a second next turn. Under exactly-once, output becomes visible at commit, so
 * the commit interval bounds the latency each topology adds; the default ({@value #DEFAULT_COMMIT_INTERVAL_MS}
 * ms) keeps the orchestration overhead per turn small. Kafka settings given in {@code kafkaConfig} (for
 * example {@code commit.interval.ms}, {@code poll.ms}) override these defaults, except the processing
 * guarantee, naming, error handling and the record budget. Every processor, store and internal topic
 * must be named ({@code ensure.explicit.internal.resource.naming}).
 *
 * <p>Under exactly-once the Streams producer sends one request at a time per broker
 * ({@code max.in.flight.requests.per.connection=1}, overridable). With transactions v2 (KIP-890) a commit
 * returns before its markers are written, and the first batch the next transaction writes to a partition is
 * verified with the coordinator before it is appended: while the previous transaction is still completing,
 * that batch is rejected with {@code CONCURRENT_TRANSACTIONS} and resent after {@code retry.backoff.ms}. A
 * second batch to that partition already sent behind it was rejected as well, which the broker logged as an
 * {@code OutOfOrderSequenceException} ("Expected sequence 0 for transactions v2 idempotent producer with no
 * existing state", KAFKA-18202) and which cost a second resend. Neither loses or doubles a record. One
 * request in flight never sends the second batch before the first is appended. The retry backoff stays at
 * Kafka's 100 ms: at 5 ms a busy broker saw thirty times the resends and twice the CPU per agent turn
 * (bench/results/scale).
 *
 * <p>Errors: undecodable input goes to {@link DeadLetterHandler}, output that cannot be written to
 * {@link ProductionFailureHandler}, a state-store value over the budget to {@link ProcessingFailureHandler};
 * each ends the job the record names instead of stopping the thread. {@link #threadFailurePolicy} says
 * what happens to a thread that fails anyway.
 *
 * <p>Record budget ({@link RecordLimits}, from the serde settings): the Streams producer's
 * {@code max.request.size} and the internal topics' {@code max.message.bytes} ({@code topic.*}) follow
 * it; the producer compresses with zstd unless {@code compression.type} is given.
 *
 * @param applicationId the Streams application id (also the prefix of internal topics)
 * @param kafkaConfig client settings, at least {@code bootstrap.servers}
 * @param topicPrefix the topic catalogue's prefix
 * @param serdeConfig the value serde settings (see {@code EventSerdes})
 * @param exactlyOnce exactly_once_v2 when true, at_least_once otherwise
 * @param commitInterval the Streams commit interval
 * @param stateDir where state stores live
 * @param threads stream threads
 */
public record StreamsSettings(
        String applicationId,
        Map<String, Object> kafkaConfig,
        String topicPrefix,
        Map<String, ?> serdeConfig,
        boolean exactlyOnce,
        Duration commitInterval,
        Path stateDir,
        int threads) {

    /** Streams property carrying the topic prefix to {@link DeadLetterHandler}. */
    public static final String TOPIC_PREFIX_CONFIG = "batchagent.topic.prefix";

    /**
     * The commit interval unless one is given: under exactly-once, the most a topology holds back its output.
     * Measured against 5 ms side by side (bench/results/scale, a 2-core machine at load average ~45): every
     * commit is a transaction; 5 ms gave 0.87x the overhead per turn at 20 agents, the same throughput at
     * 1,000, and 1.39x the worker's CPU per turn. Kept at 20 ms until a quiet machine decides.
     */
    public static final long DEFAULT_COMMIT_INTERVAL_MS = 20;

    private static final Logger LOGGER = LoggerFactory.getLogger(StreamsSettings.class);

    public StreamsSettings {
        Objects.requireNonNull(applicationId, "applicationId");
        Objects.requireNonNull(kafkaConfig, "kafkaConfig");
        topicPrefix = topicPrefix == null ? "" : topicPrefix;
        serdeConfig = serdeConfig == null ? Map.of() : Map.copyOf(serdeConfig);
        commitInterval = commitInterval == null ? Duration.ofMillis(DEFAULT_COMMIT_INTERVAL_MS) : commitInterval;
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
    }

    /** Settings with the defaults: exactly-once, 20 ms commits, one thread, state under java.io.tmpdir. */
    public static StreamsSettings defaults(String applicationId, Map<String, Object> kafkaConfig, String topicPrefix) {
        return new StreamsSettings(
                applicationId,
                kafkaConfig,
                topicPrefix,
                Map.of(),
                true,
                null,
                Path.of(System.getProperty("java.io.tmpdir"), "batchagent-streams"),
                1);
    }

    public StreamsSettings withStateDir(Path dir) {
        return new StreamsSettings(
                applicationId, kafkaConfig, topicPrefix, serdeConfig, exactlyOnce, commitInterval, dir, threads);
    }

    public StreamsSettings withExactlyOnce(boolean enabled) {
        return new StreamsSettings(
                applicationId, kafkaConfig, topicPrefix, serdeConfig, enabled, commitInterval, stateDir, threads);
    }

    public StreamsSettings withSerdeConfig(Map<String, ?> config) {
        return new StreamsSettings(
                applicationId, kafkaConfig, topicPrefix, config, exactlyOnce, commitInterval, stateDir, threads);
    }

    /** The properties to start {@code KafkaStreams} with. */
    public Properties toProperties() {
        Map<String, Object> props = new HashMap<>();
        // Latency defaults, which the given Kafka settings may override: an idle thread comes round to
        // commit every poll.ms (Kafka: 100 ms), so each hop of a turn would add it. fetch.max.wait.ms stays
        // at Kafka's 500 ms: the broker completes a waiting read_committed fetch as soon as a commit marker
        // moves the partition's stable offset, and the consumer keeps one fetch waiting at the broker while
        // poll.ms loops on the client. A 10 ms wait (before) made every idle consumer ask the broker 100
        // times a second: idle, one worker process and its broker spent 0.38 and 0.32 CPU-seconds per
        // second, against 0.19 and 0.11 at 500 ms (docs/latency.md).
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitInterval.toMillis());
        props.put(StreamsConfig.POLL_MS_CONFIG, 10L);
        props.put(StreamsConfig.consumerPrefix("max.poll.records"), 500);
        props.put(StreamsConfig.producerPrefix("linger.ms"), 1);
        if (exactlyOnce) {
            // Transactions v2: a batch sent behind one that meets the previous transaction still completing
            // is rejected as out of sequence and resent too (see the class comment).
            props.put(StreamsConfig.producerPrefix(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION), 1);
        }
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, -1);
        if (!kafkaConfig.containsKey(ProducerConfig.COMPRESSION_TYPE_CONFIG)) {
            props.put(
                    StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG),
                    RecordLimits.COMPRESSION_TYPE);
        }
        props.putAll(serdeConfig);
        props.putAll(kafkaConfig);
        // Not overridable: what the topologies' correctness rests on.
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        props.put(
                StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
                exactlyOnce ? StreamsConfig.EXACTLY_ONCE_V2 : StreamsConfig.AT_LEAST_ONCE);
        props.put(StreamsConfig.ENSURE_EXPLICIT_INTERNAL_RESOURCE_NAMING_CONFIG, true);
        props.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, DeadLetterHandler.class.getName());
        props.put(StreamsConfig.PRODUCTION_EXCEPTION_HANDLER_CLASS_CONFIG, ProductionFailureHandler.class.getName());
        props.put(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_CLASS_CONFIG, ProcessingFailureHandler.class.getName());
        RecordLimits limits = RecordLimits.from(serdeConfig);
        props.put(StreamsConfig.producerPrefix(ProducerConfig.MAX_REQUEST_SIZE_CONFIG), limits.maxRequestBytes());
        props.put(StreamsConfig.topicPrefix(TopicConfig.MAX_MESSAGE_BYTES_CONFIG), limits.maxMessageBytes());
        props.put(TOPIC_PREFIX_CONFIG, topicPrefix);
        Properties properties = new Properties();
        properties.putAll(props);
        return properties;
    }

    /**
     * What becomes of a stream thread of {@code app} that failed. A transient fault (the cause chain holds a
     * {@link org.apache.kafka.common.errors.RetriableException}: a registry or broker outage, or a transaction
     * step that timed out while the broker was away: {@link Failures#isTimedOutTransaction}) replaces the
     * thread, which reads the uncommitted input again; the registry client's backoff spaces the attempts.
     * Anything else shuts this Streams client down, loudly: the error handlers already turn every bad
     * record into a dead letter and a FAILED result, so what is left is a bug or a misconfiguration, and
     * replacing the thread would replay the same input forever.
     */
    public static StreamsUncaughtExceptionHandler threadFailurePolicy(String app) {
        return failure -> {
            if (Failures.isRetriable(failure) || Failures.isTimedOutTransaction(failure)) {
                LOGGER.warn(
                        "stream thread of {} hit a transient fault; replacing it to read its input again: {}",
                        app,
                        Failures.describe(failure));
                return StreamThreadExceptionResponse.REPLACE_THREAD;
            }
            LOGGER.error("stream thread of {} failed; shutting the {} stage down", app, app, failure);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        };
    }
}
