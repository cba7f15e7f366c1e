package io.batchagent.observability;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the Kafka cluster answers: an {@link Admin#describeCluster()} every interval, in the background,
 * with the process's own client settings (so security settings are tested too). Until the first answer
 * the broker counts as unreachable. Thread-safe; {@link #close()} stops looking and closes the admin client.
 */
public final class BrokerCheck implements Supplier<HealthChecks.Status>, AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(BrokerCheck.class);

    private final Admin admin;
    private final Duration timeout;
    private final ScheduledFuture<?> schedule;
    private volatile HealthChecks.Status last = HealthChecks.Status.failing("not looked at yet");

    private BrokerCheck(Map<String, Object> kafkaConfig, ScheduledExecutorService scheduler, Duration interval) {
        Map<String, Object> config = new HashMap<>(kafkaConfig);
        config.put(AdminClientConfig.CLIENT_ID_CONFIG, "batchagent-broker-check");
        this.admin = Admin.create(config);
        this.timeout = interval;
        this.schedule = scheduler.scheduleWithFixedDelay(this::look, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Starts looking at the cluster every {@code interval} on {@code scheduler} (which stays the caller's).
     *
     * @param kafkaConfig the process's client settings, at least {@code bootstrap.servers}
     */
    public static BrokerCheck start(
            Map<String, Object> kafkaConfig, ScheduledExecutorService scheduler, Duration interval) {
        return new BrokerCheck(kafkaConfig, scheduler, interval);
    }

    @Override
    public HealthChecks.Status get() {
        return last;
    }

    private void look() {
        HealthChecks.Status status;
        try {
            int timeoutMs = (int) Math.max(1000, timeout.toMillis());
            var cluster = admin.describeCluster(new DescribeClusterOptions().timeoutMs(timeoutMs));
            int nodes = cluster.nodes().get(timeoutMs, TimeUnit.MILLISECONDS).size();
            status = HealthChecks.Status.ok("cluster " + cluster.clusterId().get(timeoutMs, TimeUnit.MILLISECONDS)
                    + ", " + nodes + " broker(s)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        } catch (Exception e) {
            status = HealthChecks.Status.failing("cluster not reachable: " + rootMessage(e));
        }
        if (status.ok() != last.ok()) {
            LOGGER.info("broker reachable={} detail={}", status.ok(), status.detail());
        }
        last = status;
    }

    private static String rootMessage(Throwable error) {
        Throwable cause = error;
        while (cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause.getClass().getSimpleName() + ": " + cause.getMessage();
    }

    @Override
    public void close() {
        schedule.cancel(true);
        admin.close(Duration.ofSeconds(5));
    }
}
