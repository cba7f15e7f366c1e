package io.batchagent.opencode;

import io.batchagent.gateway.Gateway;
import io.batchagent.gateway.GatewayConfig;
import io.batchagent.inference.EngineEndpoint;
import io.batchagent.inference.InferenceWorkerConfig;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;

/**
 * Everything one process needs to run OpenCode jobs from Kafka: a {@link Gateway} in front of the engine,
 * an {@link OpenCodeRuntime} pointed at it, and an {@link OpenCodeWorker} consuming {@code opencode-jobs}.
 * This is what {@code batchagent worker --role opencode} and {@code batchagent opencode} start.
 *
 * <p>{@link #close()} stops them in reverse order: the worker stops consuming, running sessions are killed,
 * then the gateway (and its engine client) stops.
 */
public final class OpenCodeStage implements AutoCloseable {

    private final Gateway gateway;
    private final OpenCodeRuntime runtime;
    private final OpenCodeWorker worker;
    private final OpenCodeJobs client;

    private OpenCodeStage(Gateway gateway, OpenCodeRuntime runtime, OpenCodeWorker worker, OpenCodeJobs client) {
        this.gateway = gateway;
        this.runtime = runtime;
        this.worker = worker;
        this.client = client;
    }

    /**
     * Creates the jobs topic if missing, then starts the gateway, the runtime and the worker.
     *
     * @param kafkaConfig client settings shared by every client (bootstrap.servers, security...)
     * @param partitions partitions of the jobs topic if it must be created
     * @param groupId the OpenCode workers' consumer group; {@link OpenCodeWorker#DEFAULT_GROUP_ID} when null
     * @param engine the engine behind the gateway
     * @param engineConfig the engine client's timeout, retries and API key
     */
    public static OpenCodeStage start(
            Map<String, Object> kafkaConfig,
            OpenCodeTopics topics,
            int partitions,
            String groupId,
            GatewayConfig gatewayConfig,
            EngineEndpoint engine,
            InferenceWorkerConfig engineConfig,
            OpenCodeSettings settings) {
        try (Admin admin = Admin.create(kafkaConfig)) {
            topics.ensure(admin, partitions, (short) -1);
        }
        Gateway gateway = Gateway.start(gatewayConfig, engine, engineConfig);
        OpenCodeRuntime runtime = null;
        try {
            runtime = new OpenCodeRuntime(settings, gateway);
            OpenCodeWorker worker = new OpenCodeWorker(kafkaConfig, topics, runtime, gateway, groupId);
            worker.start();
            return new OpenCodeStage(gateway, runtime, worker, new OpenCodeJobs(kafkaConfig, topics));
        } catch (RuntimeException e) {
            if (runtime != null) {
                runtime.close();
            }
            gateway.close();
            throw e;
        }
    }

    public Gateway gateway() {
        return gateway;
    }

    public OpenCodeRuntime runtime() {
        return runtime;
    }

    public OpenCodeWorker worker() {
        return worker;
    }

    /** Submits OpenCode batches to the topics this stage consumes. */
    public OpenCodeJobs client() {
        return client;
    }

    @Override
    public void close() {
        worker.close();
        runtime.close();
        gateway.close();
    }
}
