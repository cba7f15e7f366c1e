package io.batchagent.cli;

import io.batchagent.inference.CloseableEngineClient;
import io.batchagent.inference.EngineClients;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.InferenceWorker;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.schemas.TopicProvisioner;
import io.batchagent.schemas.ToolTimeouts;
import io.batchagent.schemas.Topics;
import io.batchagent.tools.ToolRegistry;
import io.batchagent.tools.ToolWorker;
import io.batchagent.tools.ToolWorkerConfig;
import io.batchagent.topology.JobCompiler;
import io.batchagent.topology.StreamsSettings;
import io.batchagent.topology.ToolCallCoalescer;
import io.batchagent.topology.TurnAssembler;
import io.batchagent.topology.WorkflowCoordinator;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
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
    private final List<KafkaStreams> streams = new ArrayList<>();
    private final Map<String, LongAdder> threadFailures = new java.util.concurrent.ConcurrentHashMap<>();
    private ToolWorker toolWorker;
    private InferenceWorker inferenceWorker;

    private Pipeline(PipelineConfig config) {
        this.config = config;
        this.topics = Topics.create(config.topicPrefix(), config.serdeConfig());
    }

    /** Creates missing topics, then starts {@code stages}; waits until the Streams apps run. */
    public static Pipeline start(PipelineConfig config, Set<Stage> stages) {
        Pipeline pipeline = new Pipeline(config);
        try {
            pipeline.provisionTopics();
            pipeline.startStages(stages);
            return pipeline;
        } catch (RuntimeException e) {
            pipeline.close();
            throw e;
        }
    }

    public Topics topics() {
        return topics;
    }

    /** Tool executions performed by this process's tool worker (0 if it runs none). */
    public long toolExecutions() {
        return toolWorker == null ? 0
                : toolWorker.counters().executionsByTool().values().stream().mapToLong(Long::longValue).sum();
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
        return afterExpiry.compareTo(TurnAssembler.DEFAULT_STALL_GRACE) > 0 ? afterExpiry : TurnAssembler.DEFAULT_STALL_GRACE;
    }

    private void provisionTopics() {
        try (Admin admin = Admin.create(config.kafkaConfig())) {
            TopicProvisioner.ensure(admin, topics, config.partitions(), (short) -1);
        }
    }

    private void startStages(Set<Stage> stages) {
        if (stages.contains(Stage.TOOLS)) {
            ToolRegistry registry = ToolRegistry.builder().discover().build();
            toolWorker = new ToolWorker(config.kafkaConfig(), topics,
                    config.toolWorker().withGroupId(config.applicationIdPrefix() + "-tools")
                            .withMaxConcurrency(config.toolConcurrency()).withToolOptions(config.toolOptions()),
                    registry);
            toolWorker.start();
            running.add(toolWorker);
        }
        if (stages.contains(Stage.JOB_COMPILER)) {
            startStreams("job-compiler", JobCompiler.build(topics, config.specGrace()));
        }
        if (stages.contains(Stage.COALESCER)) {
            startStreams("coalescer", ToolCallCoalescer.build(topics, config.toolExpiryGrace(), Duration.ofSeconds(1)));
        }
        if (stages.contains(Stage.ASSEMBLER)) {
            startStreams("turn-assembler", TurnAssembler.build(topics, TurnAssembler.DEFAULT_RETENTION,
                    ToolTimeouts.DEFAULT_QUEUE_ALLOWANCE, stallGrace(config)));
        }
        if (stages.contains(Stage.WORKFLOW)) {
            startStreams("workflow", WorkflowCoordinator.build(topics));
        }
        if (stages.contains(Stage.INFERENCE)) {
            InferenceWorkerConfig workerConfig = InferenceWorkerConfig.defaults()
                    .withGroupId(config.applicationIdPrefix() + "-inference")
                    .withMaxInflight(config.maxInflight())
                    .withWarmUp(config.warmUp())
                    .withWarmUpTimeout(config.warmUpTimeout());
            if (config.engineApiKey() != null) {
                workerConfig = workerConfig.withEngineApiKey(config.engineApiKey());
            }
            CloseableEngineClient engine = EngineClients.create(EngineEndpoint.parse(config.engineUrl()), workerConfig);
            running.add(engine);
            inferenceWorker = new InferenceWorker(config.kafkaConfig(), topics, workerConfig, engine);
            inferenceWorker.start();
            running.add(inferenceWorker);
        }
        awaitStreamsRunning(Duration.ofSeconds(60));
        LOGGER.info("pipeline started: stages={} {}", stages, config);
    }

    private void startStreams(String name, Topology topology) {
        Map<String, Object> kafka = new HashMap<>(config.kafkaConfig());
        StreamsSettings settings = new StreamsSettings(config.applicationIdPrefix() + "-" + name, kafka,
                config.topicPrefix(), config.serdeConfig(), config.exactlyOnce(), null,
                config.stateDir().resolve(name), 1);
        KafkaStreams app = new KafkaStreams(topology, settings.toProperties());
        // Transient faults replace the thread (it re-reads its input); anything else stops this stage loudly.
        StreamsUncaughtExceptionHandler policy = StreamsSettings.threadFailurePolicy(name);
        LongAdder failures = threadFailures.computeIfAbsent(name, n -> new LongAdder());
        app.setUncaughtExceptionHandler(failure -> {
            failures.increment();
            return policy.handle(failure);
        });
        app.start();
        streams.add(app);
        // Leave the group on close: Streams stays in it by default, and a rerun would then wait out
        // the old members' session timeout (45 s) before it gets its partitions.
        running.add(() -> app.close(CloseOptions.timeout(Duration.ofSeconds(30))
                .withGroupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)));
    }

    private void awaitStreamsRunning(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (KafkaStreams app : streams) {
            while (app.state() != KafkaStreams.State.RUNNING) {
                if (app.state() == KafkaStreams.State.ERROR || app.state() == KafkaStreams.State.NOT_RUNNING) {
                    throw new IllegalStateException("a Streams application stopped while starting: " + app.state());
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("Streams applications not running after " + timeout.toSeconds() + " s");
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

    @Override
    public void close() {
        List<AutoCloseable> reverse = new ArrayList<>(running);
        Collections.reverse(reverse);
        for (AutoCloseable stage : reverse) {
            try {
                stage.close();
            } catch (Exception e) {
                LOGGER.warn("a stage did not close cleanly", e);
            }
        }
        running.clear();
    }
}
