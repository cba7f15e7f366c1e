package io.batchagent.cli;

import io.batchagent.inference.EngineAdmin;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.EngineMonitor;
import io.batchagent.inference.InferenceWorkerConfig;
import io.batchagent.observability.BrokerCheck;
import io.batchagent.observability.ClusterMonitor;
import io.batchagent.observability.HealthChecks;
import io.batchagent.observability.OpsServer;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;

/**
 * What one BatchAgent process serves to operators over HTTP ({@code --metrics-port}): its
 * {@link Pipeline}'s meters with the Kafka client, Streams and JVM meters bound, and {@code /health} and
 * {@code /ready} over these checks:
 *
 * <ul>
 *   <li>{@code broker} (readiness): the cluster answers {@code describeCluster} with the process's settings;
 *   <li>one per stage (liveness and readiness; see {@link Pipeline#addHealthChecks});
 *   <li>{@code engine} (readiness, inference only): the engine answers over HTTP; its queue depth and
 *       cache counters are published from the same look ({@link EngineMonitor}).
 * </ul>
 *
 * A process that runs the workflow stage also runs the {@link ClusterMonitor} (jobs by status, dead
 * letters, tool requests and coalescing, lag per stage), in the group {@code <app prefix>-monitor}.
 * {@link #close()} stops all of it, not the pipeline.
 */
public final class ProcessOps implements AutoCloseable {

    /** How often Kafka meters are refreshed and the broker, engine and lag are looked at. */
    static final Duration INTERVAL = Duration.ofSeconds(5);

    private final List<AutoCloseable> running = new ArrayList<>();
    private final ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(2, runnable -> {
        Thread thread = new Thread(runnable, "batchagent-ops");
        thread.setDaemon(true);
        return thread;
    });
    private OpsServer server;

    private ProcessOps() {}

    /**
     * Binds the meters, starts the checks and serves them on {@code address} (port 0: a free one).
     *
     * @param config the configuration {@code pipeline} was started with
     * @param stages the stages it runs
     */
    public static ProcessOps start(
            Pipeline pipeline, PipelineConfig config, Set<Stage> stages, InetSocketAddress address) {
        ProcessOps ops = new ProcessOps();
        try {
            ops.startAll(pipeline, config, stages, address);
            return ops;
        } catch (RuntimeException e) {
            ops.close();
            throw e;
        }
    }

    private void startAll(Pipeline pipeline, PipelineConfig config, Set<Stage> stages, InetSocketAddress address) {
        PrometheusMeterRegistry registry = pipeline.meterRegistry();
        new JvmMemoryMetrics().bindTo(registry);
        JvmGcMetrics gc = new JvmGcMetrics();
        gc.bindTo(registry);
        running.add(gc);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        pipeline.bindKafkaMetrics(scheduler, INTERVAL);

        HealthChecks checks = new HealthChecks();
        BrokerCheck broker = BrokerCheck.start(config.kafkaConfig(), scheduler, INTERVAL);
        running.add(broker);
        checks.addReadiness("broker", broker);
        pipeline.addHealthChecks(checks);
        if (stages.contains(Stage.INFERENCE)) {
            EngineEndpoint endpoint = EngineEndpoint.parse(config.engineUrl());
            EngineMonitor engine = EngineMonitor.start(
                    new EngineAdmin(endpoint, InferenceWorkerConfig.defaults().withEngineApiKey(config.engineApiKey())),
                    endpoint.describe(),
                    registry,
                    scheduler,
                    INTERVAL);
            running.add(engine);
            checks.addReadiness(
                    "engine",
                    () -> new HealthChecks.Status(
                            engine.last().reachable(),
                            endpoint.describe() + ": " + engine.last().detail()));
        }
        if (stages.contains(Stage.WORKFLOW)) {
            running.add(ClusterMonitor.start(
                    config.kafkaConfig(),
                    pipeline.topics(),
                    monitorGroupId(config),
                    stageGroups(config),
                    registry,
                    scheduler,
                    INTERVAL));
        }
        checks.bindTo(registry);
        server = OpsServer.start(address, registry, checks);
        running.add(server);
    }

    /** The consumer group of the cluster monitor. */
    public static String monitorGroupId(PipelineConfig config) {
        return config.applicationIdPrefix() + "-monitor";
    }

    /** Each stage's consumer group or application id, by role name. */
    static Map<String, String> stageGroups(PipelineConfig config) {
        Map<String, String> groups = new LinkedHashMap<>();
        for (Stage stage : Stage.values()) {
            groups.put(stage.roleName(), Pipeline.groupId(config, stage));
        }
        return groups;
    }

    /** The port the endpoints listen on. */
    public int port() {
        return server.port();
    }

    @Override
    public void close() {
        Pipeline.closeInReverse(running, "an ops part");
        scheduler.shutdownNow();
    }
}
