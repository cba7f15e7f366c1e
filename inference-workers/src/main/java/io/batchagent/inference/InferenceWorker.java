package io.batchagent.inference;

import io.batchagent.events.AgentTurn;
import io.batchagent.schemas.ProducerSettings;
import io.batchagent.schemas.RecordLimits;
import io.batchagent.schemas.Topics;
import io.batchagent.worker.GroupSettings;
import io.batchagent.worker.InFlightConsumer;
import io.batchagent.worker.KafkaClientMeters;
import io.batchagent.worker.RetryingSender;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Consumes agent-continuations and agent-turns with a bounded number of model calls in flight, and
 * publishes each turn's outcome: the agent's result, or its tool requests and the record that it waits
 * for them.
 *
 * <p>Guarantees:
 * <ul>
 *   <li>At most {@link InferenceWorkerConfig#maxInflight()} turns are in processing at once, and a turn
 *       leaves processing as soon as its records are acknowledged: an agent waiting for tools holds
 *       no slot (DESIGN invariant 1). Only the model call and the publishing are inside the slot.
 *   <li>Dispatch order by {@link FlowControl#scheduling()} ({@link SchedulingPolicy}). The default, continuing
 *       agents first, across the whole backlog: turns on agent-continuations (turn >= 2) are dispatched before
 *       any turn of agent-turns, and while continuations wait (fetched, or on the broker past this worker's
 *       position) the agent-turns partitions are paused. Among buffered turns of one topic, continuing agents
 *       go first, then the earliest emitted. {@code new-first} reverses both; {@code least-remaining-work}
 *       keeps one rank and orders by estimated remaining work.
 *   <li>At-least-once: offsets are committed only below turns whose records were acknowledged, so a
 *       crash repeats at most the turns that were buffered or in flight. A turn whose outcome cannot be
 *       published ends its job FAILED through a small record instead ({@link TurnHandler}); if even that
 *       cannot be written, the worker stops ({@link #failure()}) without committing the turn.
 *   <li>Rebalances revoke only the partitions that move ({@link GroupSettings}: KIP-848's consumer
 *       protocol, or cooperative-sticky on the classic one).
 *   <li>Shutdown publishes nothing false: {@link #close()} stops taking turns, lets those in flight finish
 *       for up to {@link #SHUTDOWN_DRAIN}, and abandons the rest unpublished and uncommitted. If the batch
 *       spec reader fails, the worker stops the same way instead of failing new batches as unknown.
 *   <li>Bad input is data: an undecodable record goes to dead-letters (and a FAILED result when its
 *       key names a job); the loop goes on.
 *   <li>Adaptive concurrency: within that ceiling, the bound follows the engine's own signals
 *       ({@link AdaptiveConcurrency}: its queue and KV usage read from its metrics page, throttling where it
 *       has none), unless {@link FlowControl#adaptive()} is off. {@link #limit()} is the bound now.
 *   <li>Admission by KV: a new agent's first turn starts only while the engine's KV pool (its reported size) can
 *       hold the shared prefix plus the contexts of the agents running here ({@link KvAdmission}); continuing
 *       agents are never held back. On with adaptive concurrency.
 *   <li>Outages pause, they don't fail: model calls go through an {@link OutageGuard}. While the engine
 *       fails for everyone, calls that met the outage wait and are sent again once it answers, and every
 *       partition is paused (no new turn starts); a job fails ENGINE_UNAVAILABLE only when the outage
 *       outlasts {@link FlowControl#outageBudget()}. {@link #pausedMillis()} is the time spent so.
 *   <li>With {@link InferenceWorkerConfig#warmUp()}, each batch's shared prefix is warmed and verified
 *       before its turns' model calls ({@link BatchWarmer}); the outcome is on every result it publishes
 *       and in {@link #warmUp(String)}.
 * </ul>
 *
 * <p>The engine client is not owned: the caller closes it after the worker. {@link #start()} once;
 * {@link #close()} from any thread.
 */
public final class InferenceWorker implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(InferenceWorker.class);
    static final String LOOP_NAME = "batchagent-inference";
    /** How long {@link #close()} lets turns in flight finish before abandoning them. */
    public static final Duration SHUTDOWN_DRAIN = Duration.ofSeconds(10);

    private final Consumer<String, Decoded<AgentTurn>> consumer;
    private final InFlightConsumer<String, Decoded<AgentTurn>> loop;
    private final Producer<String, byte[]> producer;
    private final BatchSpecCache specCache;
    private final ExecutorService executor;
    private final TurnHandler.Counters counters = new TurnHandler.Counters();
    private final TurnHandler handler;
    private final OutageGuard guard;
    private final AdaptiveConcurrency concurrency;
    private final EngineSignals signals;
    private final KvAdmission admission;
    private final AtomicLong handlerFailures = new AtomicLong();
    private final ToolOutputs outputs;
    private final SchedulingPolicy scheduling;
    private boolean started;

    /**
     * @param kafkaConfig client settings shared by the consumers and the producer (bootstrap.servers,
     *     security...). The worker sets its group id, {@code enable.auto.commit=false},
     *     {@code isolation.level=read_committed}, an idempotent producer with {@code acks=all} under the
     *     topics' record budget, and the serializers.
     * @param engine the engine client; not closed by the worker
     */
    public InferenceWorker(
            Map<String, Object> kafkaConfig, Topics topics, InferenceWorkerConfig config, EngineClient engine) {
        this(kafkaConfig, topics, config, engine, null);
    }

    /**
     * As above, reading the engine's load from {@code engineAdmin}'s metrics page for adaptive concurrency.
     *
     * @param engineAdmin the engine's admin endpoints, owned and closed by the worker; null where the engine has
     *     no metrics page or none should be read (the limit then adapts to throttling only)
     */
    public InferenceWorker(
            Map<String, Object> kafkaConfig,
            Topics topics,
            InferenceWorkerConfig config,
            EngineClient engine,
            EngineAdmin engineAdmin) {
        this(
                new KafkaConsumer<>(
                        consumerConfig(kafkaConfig, config),
                        new StringDeserializer(),
                        Decoded.lenient(deserializerOf(topics))),
                new KafkaProducer<>(
                        producerConfig(kafkaConfig, topics.limits()),
                        new StringSerializer(),
                        new ByteArraySerializer()),
                new BatchSpecCache(kafkaConfig, topics, config.specWaitTimeout()),
                topics,
                config,
                engine,
                System::currentTimeMillis,
                SHUTDOWN_DRAIN,
                engineAdmin,
                new KafkaToolOutputs(
                        kafkaConfig,
                        topics.toolResults().valueSerde().deserializer(),
                        KafkaToolOutputs.DEFAULT_CACHE_CHARS));
    }

    /**
     * For tests: the worker owns and closes {@code consumer}, {@code producer} and {@code specCache}
     * (which may be null when {@code specs} is not a cache).
     */
    InferenceWorker(
            Consumer<String, Decoded<AgentTurn>> consumer,
            Producer<String, byte[]> producer,
            BatchSpecLookup specs,
            Topics topics,
            InferenceWorkerConfig config,
            EngineClient engine,
            LongSupplier clock) {
        this(consumer, producer, specs, topics, config, engine, clock, SHUTDOWN_DRAIN, null, ToolOutputs.none());
    }

    /** As above, letting turns in flight finish for up to {@code shutdownDrain} on close. */
    InferenceWorker(
            Consumer<String, Decoded<AgentTurn>> consumer,
            Producer<String, byte[]> producer,
            BatchSpecLookup specs,
            Topics topics,
            InferenceWorkerConfig config,
            EngineClient engine,
            LongSupplier clock,
            Duration shutdownDrain) {
        this(consumer, producer, specs, topics, config, engine, clock, shutdownDrain, null, ToolOutputs.none());
    }

    private InferenceWorker(
            Consumer<String, Decoded<AgentTurn>> consumer,
            Producer<String, byte[]> producer,
            BatchSpecLookup specs,
            Topics topics,
            InferenceWorkerConfig config,
            EngineClient engine,
            LongSupplier clock,
            Duration shutdownDrain,
            EngineAdmin engineAdmin,
            ToolOutputs outputs) {
        this.consumer = consumer;
        this.outputs = outputs;
        this.producer = producer;
        this.specCache = specs instanceof BatchSpecCache cache ? cache : null;
        this.executor = Executors.newFixedThreadPool(
                Math.min(config.maxInflight(), Math.max(2, Runtime.getRuntime().availableProcessors())),
                daemonThreads(LOOP_NAME + "-worker"));
        boolean adaptive = config.flowControl().adaptive();
        this.signals = adaptive && engineAdmin != null
                ? EngineSignals.polling(engineAdmin, EngineSignals.INTERVAL)
                : EngineSignals.none();
        if (!adaptive && engineAdmin != null) {
            engineAdmin.close();
        }
        // Admission by KV needs the engine's pool size, read with its other signals: with a fixed limit it is off.
        this.admission = adaptive
                ? new KvAdmission(
                        signals::latest,
                        AdaptiveConcurrency.initialLimit(config.maxInflight()),
                        System::currentTimeMillis)
                : null;
        EngineClient observed = admission == null ? engine : admission.observing(engine);
        this.concurrency = adaptive
                ? AdaptiveConcurrency.adaptive(observed, signals::latest, config.maxInflight(), config.engineTimeout())
                : AdaptiveConcurrency.fixed(engine, config.maxInflight());
        // The guard sits outside the limiter: calls waiting out an outage hold their slot but are not samples.
        this.guard = new OutageGuard(concurrency, config.flowControl());
        this.scheduling = config.flowControl().scheduling();
        BatchWarmer warmer = config.warmUp() ? BatchWarmer.of(guard, config.warmUpTimeout()) : BatchWarmer.disabled();
        if (admission != null) {
            counters.onFinished = admission::finished;
        }
        this.handler = new TurnHandler(
                topics,
                specs,
                guard,
                producer,
                executor,
                clock,
                counters,
                warmer,
                RetryingSender.Policy.defaults(),
                outputs,
                scheduling);
        InFlightConsumer.Options<String, Decoded<AgentTurn>> options =
                InFlightConsumer.Options.<String, Decoded<AgentTurn>>of(LOOP_NAME, config.maxInflight())
                        .withTopicPriority(scheduling.topicOrder(topics))
                        .withPriority(scheduling.order(new BatchWork(specs, handler)))
                        // The handler retries publishing itself; a stage that still fails could not record
                        // the turn's outcome at all, and handling it again would repeat the model call.
                        .withHandlerAttempts(1)
                        .withDrainTimeout(shutdownDrain)
                        .withLimit(() -> guard.admitting() ? concurrency.limit() : 0)
                        .withAdmission(admission == null || !scheduling.holdsNewAgentsByKv() ? null : this::admits)
                        .withOnHandlerFailure((record, error) -> handlerFailures.incrementAndGet());
        this.loop = new InFlightConsumer<>(
                consumer,
                List.of(topics.agentContinuations().name(), topics.agentTurns().name()),
                handler::handle,
                options);
    }

    /** Admission by KV ({@link KvAdmission}) for decoded turns; undecodable records hold no context and always start. */
    private boolean admits(ConsumerRecord<String, Decoded<AgentTurn>> record) {
        Decoded<AgentTurn> value = record.value();
        return value == null || !value.ok() || admission.admit(value.value());
    }

    /** The dispatch policy this worker runs ({@link FlowControl#scheduling()}). */
    public SchedulingPolicy scheduling() {
        return scheduling;
    }

    /**
     * Today's order, {@link SchedulingPolicy#CONTINUING_FIRST}: continuing agents (turn >= 2) before new ones, then
     * the earliest emitted; undecodable records first.
     */
    static Comparator<ConsumerRecord<String, Decoded<AgentTurn>>> continuingFirst() {
        return SchedulingPolicy.CONTINUING_FIRST.order(turn -> 0);
    }

    /**
     * Remaining work for {@link SchedulingPolicy#LEAST_REMAINING_WORK}: (max turns - turn + 1) x the output length
     * expected per turn, both taken once per batch, when its spec is first known (the batch's measured output
     * length then, else its max_tokens), so that a buffered turn's estimate never changes under the priority queue.
     * Before the spec is known, the least estimate (1): such turns go first, by emission time.
     */
    static final class BatchWork implements SchedulingPolicy.RemainingWork {
        private static final int BATCHES = 256;
        private final BatchSpecLookup specs;
        private final TurnHandler lengths;
        private final Map<String, long[]> perBatch = new java.util.LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, long[]> eldest) {
                return size() > BATCHES;
            }
        };

        BatchWork(BatchSpecLookup specs, TurnHandler lengths) {
            this.specs = specs;
            this.lengths = lengths;
        }

        @Override
        public synchronized long estimate(AgentTurn turn) {
            long[] work = perBatch.get(turn.getBatchId());
            if (work == null) {
                Optional<io.batchagent.events.BatchSpec> spec = specs.current(turn.getBatchId());
                if (spec.isEmpty()) {
                    return SchedulingPolicy.RemainingWork.of(turn.getTurn(), turn.getTurn(), 1);
                }
                long perTurn = lengths.expectedOutputTokens(turn.getBatchId(), 0)
                        .orElse(spec.get().getMaxTokens());
                work = new long[] {spec.get().getMaxTurns(), perTurn};
                perBatch.put(turn.getBatchId(), work);
            }
            return SchedulingPolicy.RemainingWork.of(turn.getTurn(), (int) work[0], work[1]);
        }
    }

    /** Starts the spec cache and the consumer loop threads. */
    public synchronized void start() {
        if (started) {
            throw new IllegalStateException("already started");
        }
        started = true;
        if (specCache != null) {
            specCache.start();
            specCache.stopped().whenComplete((ignored, error) -> {
                if (error != null) {
                    LOGGER.error("batch spec reader failed; the inference worker stops: loop={}", LOOP_NAME, error);
                    loop.fail(new IllegalStateException("the batch spec reader failed: " + error, error));
                }
            });
        }
        loop.start();
        LOGGER.info("inference worker started: loop={}", LOOP_NAME);
    }

    /** How this worker warmed {@code batchId}, once the warm-up is done; empty when it has not (or warm-up is off). */
    public Optional<WarmUpReport> warmUp(String batchId) {
        return handler.warmUp(batchId);
    }

    /** Turns in processing now. */
    public int inFlight() {
        return loop.inFlight();
    }

    /** The most turns ever in processing at once; never above maxInflight. */
    public int peakInFlight() {
        return loop.peakInFlight();
    }

    /** Decoded turns whose processing completed with a published outcome, whatever the outcome. */
    public long turnsHandled() {
        return counters.turnsHandled.get();
    }

    /** The in-flight bound now: the adaptive limit (or the fixed one), 0 while an outage pauses the worker. */
    public int limit() {
        return guard.admitting() ? concurrency.limit() : 0;
    }

    /** Model calls in flight at the start of each call so far: least, median, most. */
    public AdaptiveConcurrency.InFlightSummary inFlightSummary() {
        return concurrency.inFlightSummary();
    }

    /** Time paused and in-flight figures so far, for a batch summary. */
    public FlowSummary flowSummary() {
        AdaptiveConcurrency.InFlightSummary inFlight = concurrency.inFlightSummary();
        return new FlowSummary(
                pausedMillis(),
                inFlight.min(),
                inFlight.median(),
                inFlight.max(),
                inFlight.calls(),
                admission == null ? 0 : admission.heldBack());
    }

    /** Agents running now by admission by KV's count (admitted, final result not yet published here); 0 when it is off. */
    public int agentsRunning() {
        return admission == null ? 0 : admission.running();
    }

    /**
     * Publishes this worker's flow control in {@code registry}: {@code batchagent_inference_limit} (the in-flight
     * bound now), {@code batchagent_inference_in_flight} (model calls in flight) and
     * {@code batchagent_engine_paused_seconds_total} (time paused by engine outages),
     * {@code batchagent_inference_agents_running} and {@code batchagent_inference_admissions_held_total} (admission
     * by KV).
     */
    public void bindFlowMetrics(MeterRegistry registry, Iterable<Tag> tags) {
        Gauge.builder("batchagent.inference.limit", this, InferenceWorker::limit)
                .tags(tags)
                .description(
                        "The in-flight bound now: adaptive under max_inflight, 0 while an engine outage pauses the worker")
                .register(registry);
        Gauge.builder("batchagent.inference.in.flight", concurrency, AdaptiveConcurrency::inFlight)
                .tags(tags)
                .description("Model calls in flight")
                .register(registry);
        FunctionCounter.builder("batchagent.engine.paused.seconds", this, w -> w.pausedMillis() / 1000.0)
                .tags(tags)
                .description("Time this worker spent paused by engine outages")
                .register(registry);
        Gauge.builder("batchagent.inference.agents.running", this, InferenceWorker::agentsRunning)
                .tags(tags)
                .description("Agents admitted and not yet finished here (admission by KV; 0 when it is off)")
                .register(registry);
        FunctionCounter.builder(
                        "batchagent.inference.admissions.held",
                        this,
                        w -> w.flowSummary().kvHeldBack())
                .tags(tags)
                .description("Times a new agent was held back because the engine's KV pool could not hold its context")
                .register(registry);
    }

    /** Time this worker spent paused by engine outages, the current one included. */
    public long pausedMillis() {
        return guard.pausedMillis();
    }

    /** Model calls that ended in an {@link EngineFailure}. */
    public long engineFailures() {
        return counters.engineFailures.get();
    }

    /** ToolRequests published. */
    public long toolRequests() {
        return counters.toolRequests.get();
    }

    /** SUCCEEDED results published. */
    public long succeeded() {
        return counters.succeeded.get();
    }

    /** FAILED results published. */
    public long failed() {
        return counters.failed.get();
    }

    /** Records sent to dead-letters. */
    public long deadLetters() {
        return counters.deadLetters.get();
    }

    /** Turns that stopped the worker: neither their outcome nor a FAILED result for them could be published. */
    public long handlerFailures() {
        return handlerFailures.get();
    }

    /** Turns whose outcome could not be published and whose job was ended FAILED (RECORD_TOO_LARGE, PUBLISH_FAILED...) instead. */
    public long outcomesReplaced() {
        return counters.outcomesReplaced.get();
    }

    /** Whether the worker takes turns: started, not closed, and not stopped by a failure. */
    public boolean isRunning() {
        return loop.isRunning();
    }

    /** Whether the consumer group has assigned this worker its partitions (possibly none) and the loop runs. */
    public boolean assignmentReceived() {
        return loop.assignmentReceived();
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

    /**
     * Why the worker stopped on its own, if it did: a turn whose outcome could not be recorded at all,
     * or a failed batch spec reader. Such a worker takes no more turns; its owner should report it and
     * restart or exit (nothing past the failure was committed).
     */
    public Optional<Throwable> failure() {
        return loop.failure();
    }

    /**
     * Stops taking turns; lets the turns in flight finish for up to {@link #SHUTDOWN_DRAIN} and commits
     * those that completed; then abandons the rest (publishing nothing for them: they are handled again
     * after a restart), closes the spec cache, and flushes and closes the producer.
     */
    @Override
    public void close() {
        boolean loopRan;
        synchronized (this) {
            loopRan = started;
        }
        loop.close();
        if (!loopRan) {
            // The loop closes the consumer it ran; one that never ran is closed here.
            consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
        }
        // Before the spec cache closes: turns still waiting for a spec must not publish UNKNOWN_BATCH.
        handler.abandon();
        outputs.close();
        guard.close();
        signals.close();
        if (specCache != null) {
            specCache.close();
        }
        try {
            producer.close(Duration.ofSeconds(10));
        } catch (RuntimeException e) {
            LOGGER.warn("producer did not close cleanly", e);
        }
        executor.shutdown();
        try {
            if (!executor.awaitTermination(5, TimeUnit.SECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            executor.shutdownNow();
        }
        LOGGER.info(
                "inference worker closed: loop={} turnsHandled={} engineFailures={} pausedMs={} inFlight={}",
                LOOP_NAME,
                turnsHandled(),
                engineFailures(),
                pausedMillis(),
                inFlightSummary());
    }

    private static Map<String, Object> consumerConfig(Map<String, Object> kafkaConfig, InferenceWorkerConfig config) {
        Map<String, Object> consumer = new HashMap<>(kafkaConfig);
        consumer.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
        consumer.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        consumer.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        // fetch.max.wait.ms stays at Kafka's 500 ms: the broker answers a waiting read_committed fetch as
        // soon as a commit marker moves the stable offset (measured: docs/latency.md), and a short wait
        // only makes an idle consumer and the broker spin (StreamsSettings).
        consumer.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        consumer.putIfAbsent(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        consumer.remove(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG);
        consumer.remove(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG);
        return GroupSettings.incrementalRebalancing(consumer);
    }

    /** {@link ProducerSettings#durable}: idempotent, acks=all, one request in flight, under the record budget. */
    static Map<String, Object> producerConfig(Map<String, Object> kafkaConfig, RecordLimits limits) {
        Map<String, Object> producer = ProducerSettings.durable(kafkaConfig, limits);
        producer.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, 1);
        producer.remove(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG);
        producer.remove(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG);
        return producer;
    }

    private static org.apache.kafka.common.serialization.Deserializer<AgentTurn> deserializerOf(Topics topics) {
        return topics.agentTurns().valueSerde().deserializer();
    }

    private static ThreadFactory daemonThreads(String prefix) {
        AtomicInteger count = new AtomicInteger();
        return runnable -> {
            Thread thread = new Thread(runnable, prefix + "-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }
}
