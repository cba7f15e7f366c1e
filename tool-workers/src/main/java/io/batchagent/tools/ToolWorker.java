package io.batchagent.tools;

import io.batchagent.schemas.ProducerSettings;
import io.batchagent.schemas.RecordLimits;
import io.batchagent.schemas.Topics;
import io.batchagent.tools.http.HostAllowlist;
import io.batchagent.tools.http.HttpTool;
import io.batchagent.tools.limits.ToolLimiter;
import io.batchagent.tools.limits.ToolThreads;
import io.batchagent.tools.mcp.McpToolbox;
import io.batchagent.tools.redis.RedisLink;
import io.batchagent.tools.redis.RedisToolResultCache;
import io.batchagent.worker.GroupSettings;
import io.batchagent.worker.InFlightConsumer;
import io.batchagent.worker.KafkaClientMeters;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Executes the tool calls of the tool-calls topic and publishes one {@code ToolResult} per call to
 * the tool-results topic, keyed by call hash.
 *
 * <p>Guarantees:
 * <ul>
 *   <li>At most {@link ToolWorkerConfig#maxConcurrency()} calls are in processing at once; each
 *       runs on a thread of the worker's own, never on the consumer's poll thread. Tools run on at
 *       most {@link ToolWorkerConfig#maxToolThreads()} threads, and one tool holds at most
 *       {@code maxConcurrency} of them, counting executions that outlive their timeout because the
 *       tool ignores interruption: such a tool's calls then wait for a thread and time out, and no
 *       thread is added for them.
 *   <li>Every call gets a result, and expected failures are results: {@code ERROR} for an unknown
 *       tool, arguments that are not JSON or a tool that throws; {@code TIMEOUT} when the call
 *       overruns its {@code ToolSpec.timeoutMs} or the deadline it was dispatched with (the tool's
 *       thread is then interrupted), or, without running, when that deadline passed while the call
 *       waited on the topic ({@code ToolTimeouts}). A record
 *       that is not a {@code ToolCall} becomes a {@code DeadLetter}. None of them stops the worker.
 *   <li>At-least-once: an offset is committed only after the result of its record (and of every
 *       record before it) has been acknowledged by the broker ({@code acks=all}, idempotent
 *       producer). A crash or rebalance may run a call again; it never loses one.
 *   <li>A call whose spec is cacheable ({@code cacheable} and {@code cacheTtlMs > 0}) is answered
 *       from the {@link ToolResultCache} while an OK result of it is stored there, with
 *       {@code executed=false}. With {@link ToolWorkerConfig#redis()} set, the cache is Redis, shared
 *       by every worker; else it is in this process (Caffeine). A cache that fails is bypassed: the
 *       call runs, a throttled warning and the {@code batchagent_tool_cache_bypassed_total} metric
 *       say so.
 *   <li>Arguments are validated against the declaration's parameter schema before anything runs; a
 *       violation is an ERROR result the model can correct.
 *   <li>A tool's {@code rateLimitPerSecond} and {@code maxConcurrency} hold across all workers
 *       sharing the Redis (in this process only without Redis); waiting for them counts against
 *       the call's timeout. An execution keeps its concurrency slot until its code returns, even
 *       past its timeout.
 *   <li>A batched call ({@code ToolCall.batchItems}) runs a {@link BatchTool}'s handler once for all
 *       its items that miss the cache, and publishes one result per item, keyed by the item's hash.
 *   <li>Declared tools resolve to the MCP servers of {@link ToolWorkerConfig#mcpServers()}, to
 *       HTTP endpoints on {@link ToolWorkerConfig#httpToolHosts()}, or to the registry's tools.
 * </ul>
 *
 * <p>Kafka clients are configured from the map given to the constructor; keys prefixed
 * {@code consumer.} or {@code producer.} apply to that client only, as in Kafka Streams. The worker
 * sets what its guarantees need and overrides any conflicting value: the group id, manual commits,
 * {@code read_committed}, byte-array (de)serializers (values are decoded with the topic
 * catalogue's serdes), {@code acks=all} and idempotence. It defaults {@code auto.offset.reset} to
 * {@code earliest}, so that calls dispatched before the group first started are not skipped, and
 * {@code linger.ms} to 1 (a result is one hop of an agent turn: it should not wait for company).
 *
 * <p>Lifecycle: construct, {@link #start()} once, {@link #close()} from any thread. Closing stops
 * consuming, commits what is complete, interrupts running tools and drops their results (their
 * records are processed again by the partition's next owner), then flushes the producer.
 */
public final class ToolWorker implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(ToolWorker.class);
    /** How long {@link #start} waits for the first Redis connection. */
    private static final Duration REDIS_STARTUP_WAIT = Duration.ofSeconds(10);

    private static final Duration PRODUCER_CLOSE_TIMEOUT = Duration.ofSeconds(10);
    /** The name prefix of the threads tools run on. */
    static final String TOOL_THREAD_PREFIX = "batchagent-tool-exec-";

    private final Consumer<byte[], byte[]> consumer;
    private final Producer<byte[], byte[]> producer;
    private final ToolResultCache cache;
    private final boolean ownsCache;
    private final RedisLink redis;
    private final ToolLimiter limiter;
    private final McpToolbox mcp;
    private final ToolMetrics metrics;
    private final ToolThreads toolThreads;
    private final ScheduledThreadPoolExecutor timer;
    private final ExecutorService publisher;
    private final ToolWorkerCounters counters = new ToolWorkerCounters();
    private final InFlightConsumer<byte[], byte[]> loop;
    private final Object lifecycle = new Object();
    private volatile boolean stopping;
    private Thread loopThread;
    private boolean closed;

    /**
     * A worker whose result cache is Redis when {@link ToolWorkerConfig#redis()} is set, else in
     * this process with {@link ToolWorkerConfig#cacheMaxEntries()} entries (none if that is 0).
     *
     * @param kafkaConfig client configuration: at least {@code bootstrap.servers}
     * @throws IllegalArgumentException if a tool rejects its options
     */
    public ToolWorker(Map<String, Object> kafkaConfig, Topics topics, ToolWorkerConfig config, ToolRegistry registry) {
        this(kafkaConfig, topics, config, registry, new ToolMetrics());
    }

    /**
     * As {@link #ToolWorker(Map, Topics, ToolWorkerConfig, ToolRegistry)}, recording into
     * {@code metrics} (for example one over the process's own Micrometer registry).
     */
    public ToolWorker(
            Map<String, Object> kafkaConfig,
            Topics topics,
            ToolWorkerConfig config,
            ToolRegistry registry,
            ToolMetrics metrics) {
        this(Clients.create(kafkaConfig, config, topics.limits()), topics, config, registry, null, true, metrics);
    }

    /**
     * A worker over a given result cache, which the caller keeps ownership of (the worker does not
     * close it).
     *
     * @throws IllegalArgumentException if a tool rejects its options
     */
    public ToolWorker(
            Map<String, Object> kafkaConfig,
            Topics topics,
            ToolWorkerConfig config,
            ToolRegistry registry,
            ToolResultCache cache) {
        this(
                Clients.create(kafkaConfig, config, topics.limits()),
                topics,
                config,
                registry,
                Objects.requireNonNull(cache, "cache"),
                false,
                new ToolMetrics());
    }

    private ToolWorker(
            Clients clients,
            Topics topics,
            ToolWorkerConfig config,
            ToolRegistry registry,
            ToolResultCache cache,
            boolean ownsCache,
            ToolMetrics metrics) {
        this(clients.consumer(), clients.producer(), topics, config, registry, cache, ownsCache, metrics);
    }

    /** Over given clients, for tests with {@code MockConsumer} and {@code MockProducer}. */
    ToolWorker(
            Consumer<byte[], byte[]> consumer,
            Producer<byte[], byte[]> producer,
            Topics topics,
            ToolWorkerConfig config,
            ToolRegistry registry,
            ToolResultCache cache,
            boolean ownsCache) {
        this(
                consumer,
                producer,
                topics,
                config,
                registry,
                Objects.requireNonNull(cache, "cache"),
                ownsCache,
                new ToolMetrics());
    }

    /** @param cache the result cache, or null for the one the config implies (then owned) */
    private ToolWorker(
            Consumer<byte[], byte[]> consumer,
            Producer<byte[], byte[]> producer,
            Topics topics,
            ToolWorkerConfig config,
            ToolRegistry registry,
            ToolResultCache cache,
            boolean ownsCache,
            ToolMetrics metrics) {
        Objects.requireNonNull(topics, "topics");
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(registry, "registry");
        this.consumer = consumer;
        this.producer = producer;
        this.metrics = Objects.requireNonNull(metrics, "metrics");
        try {
            registry.configure(config.toolOptions());
        } catch (RuntimeException e) {
            closeQuietly(consumer, producer);
            throw e;
        }
        this.redis = config.redis() == null ? null : RedisLink.connect(config.redis());
        if (cache != null) {
            this.cache = cache;
            this.ownsCache = ownsCache;
        } else {
            this.cache = redis != null ? new RedisToolResultCache(redis) : inProcessCache(config);
            this.ownsCache = true;
        }
        this.timer = new ScheduledThreadPoolExecutor(1, threads("batchagent-tool-timeouts-"));
        this.timer.setRemoveOnCancelPolicy(true); // most calls finish in time; don't keep their timers
        this.toolThreads =
                new ToolThreads(config.maxToolThreads(), config.maxConcurrency(), threads(TOOL_THREAD_PREFIX), timer);
        metrics.watch(toolThreads);
        // One thread, because sends are quick appends unless the producer blocks, and then every send would.
        this.publisher = Executors.newSingleThreadExecutor(threads("batchagent-tool-publisher-"));
        Executor publishing = task -> {
            if (!stopping) {
                publisher.execute(task);
            }
        };
        ThrottledWarning limitWarning = new ThrottledWarning(Duration.ofSeconds(10));
        this.limiter = redis == null
                ? ToolLimiter.local(timer)
                : ToolLimiter.shared(redis, timer, error -> {
                    metrics.limitFallback();
                    limitWarning.warn(
                            LOGGER,
                            "tool limits could not use Redis; this worker applies them on its own until it can: error={}",
                            error.toString());
                });
        // One short-lived thread per server, so that connecting takes no tool thread.
        this.mcp = McpToolbox.of(config.mcpServers())
                .connectAll(task ->
                        threads("batchagent-mcp-connect-").newThread(task).start());
        ToolResolver resolver =
                new ToolResolver(registry, mcp, HttpTool.defaultClient(), HostAllowlist.of(config.httpToolHosts()));
        ToolCallHandler handler = new ToolCallHandler(
                topics, resolver, this.cache, limiter, producer, toolThreads, timer, publishing, counters, metrics);
        this.loop = new InFlightConsumer<>(
                consumer,
                List.of(topics.toolCalls().name()),
                handler,
                InFlightConsumer.Options.<byte[], byte[]>of("tool-worker-" + config.groupId(), config.maxConcurrency())
                        .withOnHandlerFailure((record, error) -> counters.publishFailure()));
        LOGGER.info(
                "tool worker ready: group={} maxConcurrency={} maxToolThreads={} tools={} mcpServers={} cache={}",
                config.groupId(),
                config.maxConcurrency(),
                config.maxToolThreads(),
                registry.names(),
                mcp.serverNames(),
                redis != null ? redis : this.cache.getClass().getSimpleName());
    }

    /**
     * Starts consuming on a new thread.
     *
     * @throws IllegalStateException if already started or closed
     */
    public void start() {
        // A worker that starts while Redis is slow to answer (a burst of restarts) would run cacheable
        // calls without the shared cache and repeat executions another worker already finished: give the
        // first connection a bounded wait. A refused connection returns at once; the worker then goes on
        // without Redis as before.
        if (redis != null && !redis.awaitConnected(REDIS_STARTUP_WAIT)) {
            LOGGER.warn(
                    "Redis did not answer within {} s of start; tools run without the shared cache until it does",
                    REDIS_STARTUP_WAIT.toSeconds());
        }
        synchronized (lifecycle) {
            if (closed) {
                throw new IllegalStateException("tool worker is closed");
            }
            if (loopThread != null) {
                throw new IllegalStateException("tool worker is already started");
            }
            loopThread = loop.start();
        }
    }

    /** True while the consumer loop runs: started, not closed, and not stopped by a fatal error. */
    public boolean isRunning() {
        synchronized (lifecycle) {
            return loopThread != null && loopThread.isAlive() && !closed;
        }
    }

    /** This worker's running totals. */
    public ToolWorkerCounters counters() {
        return counters;
    }

    /** This worker's per-tool metrics (Prometheus text through {@link ToolMetrics#scrape()}). */
    public ToolMetrics metrics() {
        return metrics;
    }

    /** The MCP servers of this worker. */
    public McpToolbox mcpServers() {
        return mcp;
    }

    /** Whether the consumer group has assigned this worker its partitions (possibly none) and the loop runs. */
    public boolean assignmentReceived() {
        return loop.assignmentReceived();
    }

    /** Why the worker's loop stopped on its own, if it did; such a worker executes no more calls. */
    public java.util.Optional<Throwable> failure() {
        return loop.failure();
    }

    /**
     * Binds the Kafka client metrics of this worker's consumer and producer to {@code registry}
     * ({@link KafkaClientMeters}, refreshed every {@code refresh} on {@code scheduler}, which
     * stays the caller's). The worker does not unbind them: close the returned handle, after the worker.
     */
    public AutoCloseable bindKafkaMetrics(
            MeterRegistry registry, Iterable<Tag> tags, ScheduledExecutorService scheduler, Duration refresh) {
        return KafkaClientMeters.bind(consumer, producer, registry, tags, scheduler, refresh);
    }

    /** Calls in processing now. */
    public int inFlight() {
        return loop.inFlight();
    }

    /** Threads that tools run on now, busy or idle; never more than {@link ToolWorkerConfig#maxToolThreads()}. */
    public int toolThreads() {
        return toolThreads.threads();
    }

    /** The most threads tools ran on at once since the worker was built. */
    public int peakToolThreads() {
        return toolThreads.peakThreads();
    }

    /** Executions still running after their call timed out (their tool ignored the interruption). */
    public int lingeringExecutions() {
        return toolThreads.lingering();
    }

    /** Idempotent; see the class documentation for what closing does. */
    @Override
    public void close() {
        boolean wasStarted;
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            closed = true;
            wasStarted = loopThread != null;
        }
        if (wasStarted) {
            loop.close(); // commits what is complete and closes the consumer
        } else {
            consumer.close(); // the loop closes its consumer only if it ran
        }
        stopping = true;
        toolThreads.close();
        timer.shutdownNow();
        publisher.shutdown();
        try {
            if (!publisher.awaitTermination(PRODUCER_CLOSE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                LOGGER.warn("tool worker publisher did not finish within {}", PRODUCER_CLOSE_TIMEOUT);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        producer.close(PRODUCER_CLOSE_TIMEOUT);
        if (ownsCache) {
            cache.close();
        }
        limiter.close();
        mcp.close();
        if (redis != null) {
            redis.close();
        }
        LOGGER.info(
                "tool worker closed: cacheHits={} failures={} deadLetters={} executions={}",
                counters.cacheHits(),
                counters.failures(),
                counters.deadLetters(),
                counters.executionsByTool());
    }

    static Map<String, Object> consumerConfig(Map<String, Object> kafkaConfig, ToolWorkerConfig config) {
        Map<String, Object> props = clientConfig(kafkaConfig, "consumer.", "producer.");
        props.putIfAbsent(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        // Calls come from the exactly-once coalescer. fetch.max.wait.ms stays at Kafka's 500 ms: the broker
        // answers a waiting read_committed fetch as soon as the commit marker lands (docs/latency.md).
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        return GroupSettings.incrementalRebalancing(props);
    }

    /** {@link ProducerSettings#durable} over the shared and {@code producer.}-prefixed entries; linger 1 ms. */
    static Map<String, Object> producerConfig(Map<String, Object> kafkaConfig, RecordLimits limits) {
        Map<String, Object> props = clientConfig(kafkaConfig, "producer.", "consumer.");
        props.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, 1);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        return ProducerSettings.durable(props, limits);
    }

    /** The shared entries, then the entries for this client with their prefix removed. */
    private static Map<String, Object> clientConfig(Map<String, Object> kafkaConfig, String own, String other) {
        Map<String, Object> props = new HashMap<>();
        kafkaConfig.forEach((key, value) -> {
            if (!key.startsWith(own) && !key.startsWith(other)) {
                props.put(key, value);
            }
        });
        kafkaConfig.forEach((key, value) -> {
            if (key.startsWith(own)) {
                props.put(key.substring(own.length()), value);
            }
        });
        return props;
    }

    private static ToolResultCache inProcessCache(ToolWorkerConfig config) {
        return config.cacheMaxEntries() == 0
                ? ToolResultCache.none()
                : new CaffeineToolResultCache(config.cacheMaxEntries());
    }

    private record Clients(Consumer<byte[], byte[]> consumer, Producer<byte[], byte[]> producer) {
        static Clients create(Map<String, Object> kafkaConfig, ToolWorkerConfig config, RecordLimits limits) {
            Consumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerConfig(kafkaConfig, config));
            try {
                return new Clients(consumer, new KafkaProducer<>(producerConfig(kafkaConfig, limits)));
            } catch (RuntimeException e) {
                consumer.close();
                throw e;
            }
        }
    }

    private static void closeQuietly(Consumer<?, ?> consumer, Producer<?, ?> producer) {
        try {
            consumer.close();
        } finally {
            producer.close(Duration.ZERO);
        }
    }

    private static ThreadFactory threads(String prefix) {
        AtomicInteger next = new AtomicInteger();
        return runnable -> {
            Thread thread = new Thread(runnable, prefix + next.incrementAndGet());
            thread.setDaemon(true); // a tool that ignores interruption must not keep the JVM alive
            return thread;
        };
    }
}
