package io.batchagent.cli;

import io.batchagent.inference.CloseableEngineClient;
import io.batchagent.inference.EngineAdmin;
import io.batchagent.inference.EngineClients;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.InferenceWorker;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.inference.MeteredEngineClient;
import io.batchagent.observability.HealthChecks;
import io.batchagent.schemas.ToolTimeouts;
import io.batchagent.schemas.TopicProvisioner;
import io.batchagent.schemas.Topics;
import io.batchagent.tools.ToolMetrics;
import io.batchagent.tools.ToolRegistry;
import io.batchagent.tools.ToolWorker;
import io.batchagent.topology.JobCompiler;
import io.batchagent.topology.StreamsSettings;
import io.batchagent.topology.ToolCallCoalescer;
import io.batchagent.topology.TurnAssembler;
import io.batchagent.topology.WorkflowCoordinator;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.kafka.KafkaStreamsMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs some or all stages of BatchAgent in this process against one Kafka cluster: the three
 * Streams topologies, an inference worker and a tool worker. Each stage is its own consumer group or
 * Streams application, so the same stages started in other processes share the work.
 *
 * <p>{@link #close()} stops the stages in reverse order of start.
 */
public final class Pipeline implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(Pipeline.class);

    private final PipelineConfig config;
    private final Topics topics;
    private final List<AutoCloseable> running = new ArrayList<>();
    private final Map<String, LongAdder> threadFailures = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<Stage, KafkaStreams> streams = Collections.synchronizedMap(new EnumMap<>(Stage.class));
    private final PrometheusMeterRegistry meters = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final List<AutoCloseable> unbind = new ArrayList<>();
    private volatile ToolWorker toolWorker;
    private volatile InferenceWorker inferenceWorker;
    private Set<Stage> stages = Set.of();

    private Pipeline(PipelineConfig config) {
        this.config = config;
        this.topics = Topics.create(config.topicPrefix(), config.serdeConfig());
    }

    /** How long {@link #start} and {@link #awaitRunning()} wait for the Streams apps to run. */
    public static final Duration STREAMS_START_TIMEOUT = Duration.ofSeconds(60);

    /** Creates missing topics, then starts {@code stages}; waits until the Streams apps run. */
    public static Pipeline start(PipelineConfig config, Set<Stage> stages) {
        Pipeline pipeline = launch(config, stages);
        try {
            pipeline.awaitRunning();
            return pipeline;
        } catch (RuntimeException e) {
            pipeline.close();
            throw e;
        }
    }

    /**
     * Creates missing topics, then starts {@code stages} side by side, and returns without waiting for the
     * Streams apps to get their partitions. Records written to the stages' topics from now on are not
     * lost: every stage reads a group's first assignment from the earliest offset. Call {@link
     * #awaitRunning()} to learn whether the Streams apps came up.
     */
    public static Pipeline launch(PipelineConfig config, Set<Stage> stages) {
        Pipeline pipeline = new Pipeline(config);
        try {
            pipeline.provisionTopics(stages);
            pipeline.startStages(stages);
            return pipeline;
        } catch (RuntimeException e) {
            pipeline.close();
            throw e;
        }
    }

    /**
     * Waits until every Streams app of this process runs.
     *
     * @throws IllegalStateException if one stopped, or not all run after {@link #STREAMS_START_TIMEOUT}
     */
    public void awaitRunning() {
        awaitStreamsRunning(STREAMS_START_TIMEOUT);
        LOGGER.info("pipeline running: stages={} {}", stages, config);
    }

    public Topics topics() {
        return topics;
    }

    /** Tool executions performed by this process's tool worker (0 if it runs none). */
    public long toolExecutions() {
        return toolWorker == null
                ? 0
                : toolWorker.counters().executionsByTool().values().stream()
                        .mapToLong(Long::longValue)
                        .sum();
    }

    /** Executions of {@code tool} performed by this process's tool worker. */
    public long toolExecutions(String tool) {
        return toolWorker == null ? 0 : toolWorker.counters().executions(tool);
    }

    /** This process's tool-worker metrics (Prometheus text through {@code scrape()}), or null. */
    public io.batchagent.tools.ToolMetrics toolMetrics() {
        return toolWorker == null ? null : toolWorker.metrics();
    }

    /** The in-process inference worker, if this process runs one. */
    public InferenceWorker inferenceWorker() {
        return inferenceWorker;
    }

    /**
     * How many stream threads of the Streams stage {@code name} ({@code job-compiler}, {@code coalescer},
     * {@code turn-assembler}, {@code workflow}) have failed so far; each was replaced or stopped the stage
     * ({@link StreamsSettings#threadFailurePolicy}).
     */
    public long streamThreadFailures(String name) {
        LongAdder failures = threadFailures.get(name);
        return failures == null ? 0 : failures.sum();
    }

    /**
     * How long past its tools' timeouts a turn may wait before the assembler ends its job STALLED:
     * the default, or longer where the coalescer's own expiry grace needs it, so that a tool that
     * times out reaches the agent as a TIMEOUT tool message first.
     */
    static Duration stallGrace(PipelineConfig config) {
        Duration afterExpiry = config.toolExpiryGrace().plusSeconds(30);
        return afterExpiry.compareTo(TurnAssembler.DEFAULT_STALL_GRACE) > 0
                ? afterExpiry
                : TurnAssembler.DEFAULT_STALL_GRACE;
    }

    /**
     * This process's meters: model calls ({@link MeteredEngineClient}), turns ({@code batchagent_turns_total}),
     * tools ({@link io.batchagent.tools.ToolMetrics}); Kafka client meters once {@link #bindKafkaMetrics} is called.
     */
    public PrometheusMeterRegistry meterRegistry() {
        return meters;
    }

    /** The Kafka Streams topology of {@code stage}, one of the {@link Stage#isStreamsApp() Streams apps}. */
    public static Topology topology(Stage stage, PipelineConfig config, Topics topics) {
        return switch (stage) {
            case JOB_COMPILER -> JobCompiler.build(topics, config.specGrace());
            case COALESCER -> ToolCallCoalescer.build(topics, config.toolExpiryGrace(), Duration.ofSeconds(1));
            case ASSEMBLER ->
                TurnAssembler.build(
                        topics,
                        TurnAssembler.DEFAULT_RETENTION,
                        ToolTimeouts.DEFAULT_QUEUE_ALLOWANCE,
                        stallGrace(config));
            case WORKFLOW -> WorkflowCoordinator.build(topics);
            case INFERENCE, TOOLS -> throw new IllegalArgumentException(stage.roleName() + " is not a Streams app");
        };
    }

    /** The consumer group, or Streams application id, of {@code stage} under {@code config}. */
    public static String groupId(PipelineConfig config, Stage stage) {
        return config.applicationIdPrefix() + "-" + appName(stage);
    }

    /** The stage's name in its group id and state directory ({@code turn-assembler} for the assembler). */
    private static String appName(Stage stage) {
        return stage == Stage.ASSEMBLER ? "turn-assembler" : stage.roleName();
    }

    /**
     * Binds the Kafka client and Streams metrics of every stage in this process to {@link #meterRegistry()}
     * (Micrometer's {@code KafkaClientMetrics} and {@code KafkaStreamsMetrics}, tagged {@code stage}, refreshed
     * every {@code refresh} on {@code scheduler}, which stays the caller's). Unbound by {@link #close()}.
     */
    public void bindKafkaMetrics(ScheduledExecutorService scheduler, Duration refresh) {
        streams.forEach((stage, app) -> {
            KafkaStreamsMetrics binder =
                    new KafkaStreamsMetrics(app, Tags.of("stage", stage.roleName()), scheduler, refresh);
            binder.bindTo(meters);
            unbind.add(binder);
        });
        if (toolWorker != null) {
            unbind.add(
                    toolWorker.bindKafkaMetrics(meters, Tags.of("stage", Stage.TOOLS.roleName()), scheduler, refresh));
        }
        if (inferenceWorker != null) {
            unbind.add(inferenceWorker.bindKafkaMetrics(
                    meters, Tags.of("stage", Stage.INFERENCE.roleName()), scheduler, refresh));
        }
    }

    /**
     * Adds a liveness and a readiness check per stage of this process to {@code checks}. A Streams app is
     * live unless it failed ({@code ERROR}, or stopped while it should run) and ready while {@code RUNNING};
     * a worker is ready once its group gave it an assignment, and no longer live once its loop died after that.
     */
    public void addHealthChecks(HealthChecks checks) {
        streams.forEach((stage, app) -> {
            checks.addLiveness(stage.roleName(), () -> {
                KafkaStreams.State state = app.state();
                boolean failed = state == KafkaStreams.State.ERROR
                        || state == KafkaStreams.State.PENDING_ERROR
                        || state == KafkaStreams.State.NOT_RUNNING;
                return new HealthChecks.Status(!failed, "Streams app " + state);
            });
            checks.addReadiness(
                    stage.roleName(),
                    () -> new HealthChecks.Status(
                            app.state() == KafkaStreams.State.RUNNING, "Streams app " + app.state()));
        });
        if (toolWorker != null) {
            addWorkerChecks(checks, Stage.TOOLS, toolWorker::assignmentReceived);
        }
        if (inferenceWorker != null) {
            addWorkerChecks(checks, Stage.INFERENCE, inferenceWorker::assignmentReceived);
        }
    }

    private static void addWorkerChecks(HealthChecks checks, Stage stage, BooleanSupplier assigned) {
        AtomicBoolean everAssigned = new AtomicBoolean();
        checks.addLiveness(stage.roleName(), () -> {
            if (assigned.getAsBoolean()) {
                everAssigned.set(true);
                return HealthChecks.Status.ok("consumer loop running");
            }
            return everAssigned.get()
                    ? HealthChecks.Status.failing("consumer loop stopped")
                    : HealthChecks.Status.ok("waiting for its first assignment");
        });
        checks.addReadiness(
                stage.roleName(),
                () -> assigned.getAsBoolean()
                        ? HealthChecks.Status.ok("partitions assigned")
                        : HealthChecks.Status.failing("no assignment from the group yet"));
    }

    /**
     * Creates the missing topics among those {@code stages} use (only those: a principal allowed exactly its
     * own topics must not ask for others) and, where a Streams stage runs, warns about broker settings that slow
     * its transactions ({@link BrokerSettingsCheck}).
     */
    private void provisionTopics(Set<Stage> stages) {
        Set<String> used = RoleAccess.topicsUsed(stages, config, topics);
        try (Admin admin = Admin.create(config.kafkaConfig())) {
            TopicProvisioner.ensure(
                    admin,
                    topics,
                    topics.all().stream()
                            .filter(topic -> used.contains(topic.name()))
                            .toList(),
                    config.partitions(),
                    (short) -1);
            if (stages.stream().anyMatch(Stage::isStreamsApp)) {
                BrokerSettingsCheck.warnAboutSlowSettings(admin);
            }
        }
    }

    /**
     * Starts every stage on its own thread: most of a stage's start is class loading and client set-up, which
     * no stage waits for from another. The parts are then registered in a fixed order (tool worker, Streams
     * apps, engine client, inference worker), so that {@link #close()} stops them in reverse.
     */
    private void startStages(Set<Stage> stages) {
        this.stages = Set.copyOf(stages);
        running.addAll(startSideBySide(stages, this::startStage));
        LOGGER.info("pipeline started: stages={} {}", stages, config);
    }

    /**
     * Starts each of {@code stages} with {@code start} on a thread of its own; returns what must be closed to
     * stop them, in the order tool worker, Streams apps, inference worker.
     *
     * <p>If a stage fails to start, or the calling thread is interrupted (before or during the start), this
     * still waits for every other stage to finish its start, since none can be called back half-way, then
     * closes all that started, last first, and throws; an interrupt stays set on the calling thread. A stage
     * that fails closes what it had built itself.
     */
    static List<AutoCloseable> startSideBySide(Set<Stage> stages, Function<Stage, List<AutoCloseable>> start) {
        ExecutorService starters = Executors.newCachedThreadPool(runnable -> {
            Thread thread = new Thread(runnable, "batchagent-stage-start");
            thread.setDaemon(true);
            return thread;
        });
        Map<Stage, Future<List<AutoCloseable>>> started = new EnumMap<>(Stage.class);
        try {
            for (Stage stage : stages) {
                started.put(stage, starters.submit(() -> start.apply(stage)));
            }
        } finally {
            starters.shutdown();
        }
        List<Stage> order = new ArrayList<>();
        order.add(Stage.TOOLS);
        for (Stage stage : Stage.values()) {
            if (stage.isStreamsApp()) {
                order.add(stage);
            }
        }
        order.add(Stage.INFERENCE);
        List<AutoCloseable> parts = new ArrayList<>();
        RuntimeException failure = null;
        InterruptedException interrupt = null;
        for (Stage stage : order) {
            Future<List<AutoCloseable>> stageParts = started.get(stage);
            while (stageParts != null) {
                try {
                    parts.addAll(stageParts.get());
                    stageParts = null;
                } catch (ExecutionException e) {
                    RuntimeException cause = e.getCause() instanceof RuntimeException runtime
                            ? runtime
                            : new IllegalStateException(
                                    "stage " + stage.roleName() + " failed to start: " + e.getCause(), e.getCause());
                    if (failure == null) {
                        failure = cause;
                    } else {
                        failure.addSuppressed(cause);
                    }
                    stageParts = null;
                } catch (InterruptedException e) {
                    // Wait on: the stage is still starting, and only its parts, once returned, can stop it.
                    interrupt = e;
                }
            }
        }
        // A completed start returns without looking at the interrupt status: look at it here. It stays
        // cleared while the stages close, which wait for their threads.
        if (Thread.interrupted() && interrupt == null) {
            interrupt = new InterruptedException("interrupted while starting");
        }
        if (interrupt != null) {
            IllegalStateException interrupted = new IllegalStateException("interrupted while starting", interrupt);
            if (failure != null) {
                interrupted.addSuppressed(failure);
            }
            failure = interrupted;
        }
        if (failure != null) {
            closeInReverse(parts, "a stage");
            if (interrupt != null) {
                Thread.currentThread().interrupt();
            }
            throw failure;
        }
        return parts;
    }

    /** Starts one stage; returns what must be closed to stop it, in start order. */
    private List<AutoCloseable> startStage(Stage stage) {
        if (stage.isStreamsApp()) {
            return List.of(startStreams(stage, topology(stage, config, topics)));
        }
        if (stage == Stage.TOOLS) {
            ToolRegistry registry = ToolRegistry.builder().discover().build();
            ToolWorker worker = new ToolWorker(
                    config.kafkaConfig(),
                    topics,
                    config.toolWorker()
                            .withGroupId(groupId(config, Stage.TOOLS))
                            .withMaxConcurrency(config.toolConcurrency())
                            .withToolOptions(config.toolOptions()),
                    registry,
                    new ToolMetrics(meters));
            try {
                worker.start();
            } catch (RuntimeException e) {
                closeAfterFailedStart(worker, e);
                throw e;
            }
            toolWorker = worker;
            return List.of(worker);
        }
        InferenceWorkerConfig workerConfig = InferenceWorkerConfig.defaults()
                .withGroupId(groupId(config, Stage.INFERENCE))
                .withMaxInflight(config.maxInflight())
                .withWarmUp(config.warmUp())
                .withWarmUpTimeout(config.warmUpTimeout())
                .withFlowControl(config.flowControl())
                .withEngineTimeout(config.engineTimeout());
        if (config.engineApiKey() != null) {
            workerConfig = workerConfig.withEngineApiKey(config.engineApiKey());
        }
        EngineEndpoint endpoint = EngineEndpoint.parse(config.engineUrl());
        CloseableEngineClient engine =
                new MeteredEngineClient(EngineClients.create(endpoint, workerConfig), meters, config.maxInflight());
        InferenceWorker worker = null;
        try {
            // The worker reads the engine's queue and KV usage from its metrics page for adaptive concurrency.
            worker = new InferenceWorker(
                    config.kafkaConfig(), topics, workerConfig, engine, new EngineAdmin(endpoint, workerConfig));
            worker.bindFlowMetrics(meters, List.of());
            worker.start();
        } catch (RuntimeException e) {
            if (worker != null) {
                closeAfterFailedStart(worker, e);
            }
            closeAfterFailedStart(engine, e);
            throw e;
        }
        inferenceWorker = worker;
        FunctionCounter.builder("batchagent.turns", worker, InferenceWorker::turnsHandled)
                .description("Agent turns this inference worker handled, whatever their outcome")
                .register(meters);
        return List.of(engine, worker);
    }

    private AutoCloseable startStreams(Stage stage, Topology topology) {
        String name = appName(stage);
        Map<String, Object> kafka = new HashMap<>(config.kafkaConfig());
        StreamsSettings settings = new StreamsSettings(
                groupId(config, stage),
                kafka,
                config.topicPrefix(),
                config.serdeConfig(),
                config.exactlyOnce(),
                null,
                config.stateDir().resolve(name),
                1);
        KafkaStreams app = new KafkaStreams(topology, settings.toProperties());
        // Transient faults replace the thread (it re-reads its input); anything else stops this stage loudly.
        StreamsUncaughtExceptionHandler policy = StreamsSettings.threadFailurePolicy(name);
        LongAdder failures = threadFailures.computeIfAbsent(name, n -> new LongAdder());
        app.setUncaughtExceptionHandler(failure -> {
            failures.increment();
            return policy.handle(failure);
        });
        // Leave the group on close: Streams stays in it by default, and a rerun would then wait out
        // the old members' session timeout (45 s) before it gets its partitions.
        AutoCloseable close = () -> app.close(CloseOptions.timeout(Duration.ofSeconds(30))
                .withGroupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP));
        try {
            app.start();
        } catch (RuntimeException e) {
            // The constructor built its clients and threads already.
            closeAfterFailedStart(close, e);
            throw e;
        }
        streams.put(stage, app);
        return close;
    }

    /** Closes {@code part}, whose start (or a start beside it) failed with {@code failure}. */
    private static void closeAfterFailedStart(AutoCloseable part, RuntimeException failure) {
        try {
            part.close();
        } catch (Exception closing) {
            failure.addSuppressed(closing);
        }
    }

    private void awaitStreamsRunning(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (KafkaStreams app : streams.values()) {
            while (app.state() != KafkaStreams.State.RUNNING) {
                if (app.state() == KafkaStreams.State.ERROR || app.state() == KafkaStreams.State.NOT_RUNNING) {
                    throw new IllegalStateException("a Streams application stopped while starting: " + app.state());
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(
                            "Streams applications not running after " + timeout.toSeconds() + " s");
                }
                try {
                    TimeUnit.MILLISECONDS.sleep(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while starting", e);
                }
            }
        }
    }

    /**
     * The first stage of this process that stopped on its own, with why: a Streams app in {@code ERROR}
     * or {@code NOT_RUNNING} (its failure policy shut it down), or a worker whose loop stopped on a
     * failure. A process whose stage stopped does no more of that stage's work; its owner should exit
     * so that a supervisor starts it again (nothing past the failure was committed).
     */
    public Optional<String> stoppedStage() {
        for (Map.Entry<Stage, KafkaStreams> entry : streams.entrySet()) {
            KafkaStreams.State state = entry.getValue().state();
            if (state == KafkaStreams.State.ERROR
                    || state == KafkaStreams.State.PENDING_ERROR
                    || state == KafkaStreams.State.NOT_RUNNING) {
                return Optional.of(entry.getKey().roleName() + ": Streams app " + state);
            }
        }
        if (inferenceWorker != null && inferenceWorker.failure().isPresent()) {
            return Optional.of(Stage.INFERENCE.roleName() + ": "
                    + inferenceWorker.failure().get());
        }
        if (toolWorker != null && toolWorker.failure().isPresent()) {
            return Optional.of(
                    Stage.TOOLS.roleName() + ": " + toolWorker.failure().get());
        }
        return Optional.empty();
    }

    @Override
    public void close() {
        closeInReverse(running, "a stage");
        closeInReverse(unbind, "a metrics binder");
        meters.close();
    }

    /** Closes {@code parts} last first, logging (not throwing) what fails, and empties the list. */
    static void closeInReverse(List<AutoCloseable> parts, String what) {
        List<AutoCloseable> reverse = new ArrayList<>(parts);
        Collections.reverse(reverse);
        for (AutoCloseable part : reverse) {
            try {
                part.close();
            } catch (Exception e) {
                LOGGER.warn("{} did not close cleanly", what, e);
            }
        }
        parts.clear();
    }
}
