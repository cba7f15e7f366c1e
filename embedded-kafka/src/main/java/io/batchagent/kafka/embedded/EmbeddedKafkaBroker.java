package io.batchagent.kafka.embedded;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.properties.MetaPropertiesEnsemble;
import org.apache.kafka.metadata.storage.Formatter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real single-node Apache Kafka broker in KRaft mode, started in this JVM from the production
 * artifacts: one server that is both broker and controller, with a static one-voter quorum.
 *
 * <p>Guarantees:
 * <ul>
 *   <li>The data directory is formatted only when it holds no {@code meta.properties} yet. Starting
 *       again over a directory that a closed broker left behind resumes it: same cluster id, same
 *       topics, records and committed offsets.
 *   <li>{@link #start} returns only once {@code Admin.describeCluster()} answers with this node, or
 *       throws {@link IllegalStateException} after {@link Options#startupTimeout()}; a failed start
 *       shuts down whatever it started.
 *   <li>A data directory serves at most one running broker: a second start over a directory in
 *       use, from this JVM or another process, fails before touching it.
 *   <li>Listeners bind to 127.0.0.1 only. With port 0 (the default) the client and controller ports
 *       are chosen free at start, so they may differ from one start to the next: always ask
 *       {@link #bootstrapServers()}.
 *   <li>Internal topics (consumer offsets, transaction state, share-group state) have replication
 *       factor 1, min ISR 1 and a single partition; the initial rebalance delay of classic and
 *       streams groups is 0; consumer-protocol (KIP-848) groups have a 10 s session timeout and 2 s
 *       heartbeats; topics are never created automatically. Any of these can be overridden
 *       with {@link Options#brokerProperties()}.
 * </ul>
 *
 * <p>Several brokers may run in one JVM at once, each over its own data directory, and a broker may
 * be started, closed and started again over the same directory. Not a cluster: nothing here
 * survives the loss of its disk. Kafka's own fatal-error handling is unchanged: a fault it deems
 * fatal still halts the JVM.
 *
 * <p>Thread-safety: the accessors are safe from any thread; {@link #close()} is idempotent and
 * may be called concurrently.
 */
public final class EmbeddedKafkaBroker implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(EmbeddedKafkaBroker.class);

    private static final int NODE_ID = 1;
    private static final String HOST = "127.0.0.1";
    private static final String CLIENT_LISTENER = "PLAINTEXT";
    private static final String CONTROLLER_LISTENER = "CONTROLLER";
    /** Held while a broker runs; distinct from Kafka's own {@code .lock}, which its log manager takes. */
    private static final String LOCK_FILE = "embedded-kafka.lock";
    /** Tries when an automatically chosen port was taken between choosing and binding it. */
    private static final int BIND_ATTEMPTS = 3;

    private final KafkaRaftServer server;
    private final FileLock lock;
    private final Path dataDir;
    private final String clusterId;
    private final String bootstrapServers;
    private final AtomicBoolean closed = new AtomicBoolean();

    private EmbeddedKafkaBroker(KafkaRaftServer server, FileLock lock, Path dataDir, String clusterId, int port) {
        this.server = server;
        this.lock = lock;
        this.dataDir = dataDir;
        this.clusterId = clusterId;
        this.bootstrapServers = HOST + ":" + port;
    }

    /**
     * How to start a broker.
     *
     * @param dataDir the broker's only log directory (also its metadata log directory); created if
     *     missing, formatted if not formatted yet; owned by the broker while it runs
     * @param port the client listener's port on 127.0.0.1, or 0 for any free port
     * @param controllerPort the controller listener's port on 127.0.0.1, or 0 for any free port
     * @param brokerProperties broker configuration applied last, over this class's defaults
     * @param startupTimeout how long {@link #start} waits for the broker to answer
     */
    public record Options(
            Path dataDir, int port, int controllerPort, Map<String, String> brokerProperties, Duration startupTimeout) {

        public static final Duration DEFAULT_STARTUP_TIMEOUT = Duration.ofSeconds(60);

        public Options {
            Objects.requireNonNull(dataDir, "dataDir");
            checkPort("port", port);
            checkPort("controllerPort", controllerPort);
            if (port != 0 && port == controllerPort) {
                throw new IllegalArgumentException("port and controllerPort must differ, both are " + port);
            }
            brokerProperties = brokerProperties == null ? Map.of() : Map.copyOf(brokerProperties);
            startupTimeout = startupTimeout == null ? DEFAULT_STARTUP_TIMEOUT : startupTimeout;
            if (startupTimeout.isNegative() || startupTimeout.isZero()) {
                throw new IllegalArgumentException("startupTimeout must be positive, was " + startupTimeout);
            }
        }

        /** The defaults for {@code dataDir}: free ports, no extra properties, a 60 s startup timeout. */
        public static Options of(Path dataDir) {
            return builder(dataDir).build();
        }

        public static Builder builder(Path dataDir) {
            return new Builder(dataDir);
        }

        private static void checkPort(String name, int port) {
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException(name + " must be 0 (any free port) or in 1..65535, was " + port);
            }
        }

        /** Builds {@link Options}; not thread-safe. */
        public static final class Builder {
            private final Path dataDir;
            private int port;
            private int controllerPort;
            private final Map<String, String> brokerProperties = new LinkedHashMap<>();
            private Duration startupTimeout = DEFAULT_STARTUP_TIMEOUT;

            private Builder(Path dataDir) {
                this.dataDir = dataDir;
            }

            /** The client listener's port; 0 (the default) for any free port. */
            public Builder port(int port) {
                this.port = port;
                return this;
            }

            /** The controller listener's port; 0 (the default) for any free port. */
            public Builder controllerPort(int controllerPort) {
                this.controllerPort = controllerPort;
                return this;
            }

            /** One broker property, applied over this class's defaults. */
            public Builder brokerProperty(String name, String value) {
                brokerProperties.put(name, value);
                return this;
            }

            /** Broker properties, applied over this class's defaults. */
            public Builder brokerProperties(Map<String, String> properties) {
                brokerProperties.putAll(properties);
                return this;
            }

            public Builder startupTimeout(Duration startupTimeout) {
                this.startupTimeout = startupTimeout;
                return this;
            }

            public Options build() {
                return new Options(dataDir, port, controllerPort, brokerProperties, startupTimeout);
            }
        }
    }

    /** Starts a broker over {@code dataDir} with {@link Options#of the default options}. */
    public static EmbeddedKafkaBroker start(Path dataDir) {
        return start(Options.of(dataDir));
    }

    /**
     * Locks and, if needed, formats {@link Options#dataDir()}, starts the broker and waits until it
     * answers.
     *
     * @throws IllegalStateException if the directory is in use, or the broker fails to start or does
     *     not answer in time
     * @throws UncheckedIOException if the data directory cannot be created or read
     */
    public static EmbeddedKafkaBroker start(Options options) {
        long startNanos = System.nanoTime();
        Path dataDir = options.dataDir().toAbsolutePath();
        FileLock lock = lockDataDir(dataDir);
        try {
            String clusterId = formatIfNeeded(dataDir);
            for (int attempt = 1; ; attempt++) {
                int port = options.port() != 0 ? options.port() : freePortOtherThan(options.controllerPort());
                int controllerPort = options.controllerPort() != 0 ? options.controllerPort() : freePortOtherThan(port);
                try {
                    KafkaRaftServer server = startServer(options, dataDir, port, controllerPort);
                    EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(server, lock, dataDir, clusterId, port);
                    LOGGER.info(
                            "Kafka broker started: bootstrapServers={} clusterId={} dataDir={} in {} ms",
                            broker.bootstrapServers,
                            clusterId,
                            dataDir,
                            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos));
                    return broker;
                } catch (RuntimeException e) {
                    boolean portsWereChosen = options.port() == 0 || options.controllerPort() == 0;
                    if (!portsWereChosen || !causedByBindFailure(e) || attempt == BIND_ATTEMPTS) {
                        throw e;
                    }
                    LOGGER.warn(
                            "Kafka broker could not bind port {} or {}, retrying with other ports",
                            port,
                            controllerPort);
                }
            }
        } catch (RuntimeException e) {
            release(lock);
            throw e;
        }
    }

    /** The client listener, {@code 127.0.0.1:<port>}, for {@code bootstrap.servers}. */
    public String bootstrapServers() {
        return bootstrapServers;
    }

    /** The absolute data directory this broker runs over. */
    public Path dataDir() {
        return dataDir;
    }

    /** The cluster id, fixed when the data directory was formatted. */
    public String clusterId() {
        return clusterId;
    }

    /**
     * Shuts the broker down cleanly and waits until it has stopped and released the data
     * directory, which may then be reused or deleted. Idempotent.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        long startNanos = System.nanoTime();
        shutdown(server);
        release(lock);
        LOGGER.info(
                "Kafka broker stopped: bootstrapServers={} dataDir={} in {} ms",
                bootstrapServers,
                dataDir,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos));
    }

    @Override
    public String toString() {
        return "EmbeddedKafkaBroker[" + bootstrapServers + ", " + dataDir + "]";
    }

    private static KafkaRaftServer startServer(Options options, Path dataDir, int port, int controllerPort) {
        Properties props = brokerConfig(options, dataDir, port, controllerPort);
        KafkaRaftServer server;
        try {
            server = new KafkaRaftServer(KafkaConfig.fromProps(props, false), Time.SYSTEM);
        } catch (RuntimeException e) {
            throw new IllegalStateException(
                    "Kafka broker over " + dataDir + " has an invalid configuration or " + "data directory: "
                            + e.getMessage(),
                    e);
        }
        try {
            server.startup();
            awaitReady(HOST + ":" + port, options.startupTimeout());
            return server;
        } catch (RuntimeException e) {
            shutdown(server);
            throw e instanceof IllegalStateException
                    ? e
                    : new IllegalStateException(
                            "Kafka broker over " + dataDir + " failed to start: " + e.getMessage(), e);
        }
    }

    private static Properties brokerConfig(Options options, Path dataDir, int port, int controllerPort) {
        Properties props = new Properties();
        props.put("process.roles", "broker,controller");
        props.put("node.id", Integer.toString(NODE_ID));
        props.put("controller.quorum.voters", NODE_ID + "@" + HOST + ":" + controllerPort);
        props.put(
                "listeners",
                CLIENT_LISTENER + "://" + HOST + ":" + port + "," + CONTROLLER_LISTENER + "://" + HOST + ":"
                        + controllerPort);
        props.put("advertised.listeners", CLIENT_LISTENER + "://" + HOST + ":" + port);
        props.put(
                "listener.security.protocol.map", CLIENT_LISTENER + ":PLAINTEXT," + CONTROLLER_LISTENER + ":PLAINTEXT");
        props.put("controller.listener.names", CONTROLLER_LISTENER);
        props.put("inter.broker.listener.name", CLIENT_LISTENER);
        props.put("log.dirs", dataDir.toString());
        props.put("metadata.log.dir", dataDir.toString());

        props.put("auto.create.topics.enable", "false");
        props.put("num.partitions", "1");
        props.put("default.replication.factor", "1");
        props.put("offsets.topic.replication.factor", "1");
        props.put("offsets.topic.num.partitions", "1");
        props.put("transaction.state.log.replication.factor", "1");
        props.put("transaction.state.log.min.isr", "1");
        props.put("transaction.state.log.num.partitions", "1");
        props.put("share.coordinator.state.topic.replication.factor", "1");
        props.put("share.coordinator.state.topic.min.isr", "1");
        props.put("share.coordinator.state.topic.num.partitions", "1");
        // The controller unfences a starting broker on its next heartbeat after it caught up: at the default
        // 2 s interval, a cold start waited about 2 s for it. The interval is also how long a heartbeat may wait
        // in the controller's queue before it is logged as expired (an ERROR line, harmless): at 200 ms a busy
        // 2-core machine logged about one a minute, so 500 ms.
        props.put("broker.heartbeat.interval.ms", "500");
        // Under transactions v2 the first write of a transaction to a partition is checked with the transaction
        // coordinator, which answers CONCURRENT_TRANSACTIONS while the previous transaction's markers are still
        // being written; the broker then tries again after this backoff (Kafka's default 20 ms). An exactly-once
        // stage writes again right after its commit, so at 20 ms about one write in ten waited 20 ms more than
        // the markers took (docs/latency.md, "A transaction's first write after a commit").
        props.put("add.partitions.to.txn.retry.backoff.ms", "5");
        props.put("group.initial.rebalance.delay.ms", "0");
        props.put("group.streams.initial.rebalance.delay.ms", "0");
        // Groups on KIP-848's consumer protocol (the workers') take their session timeout and heartbeat
        // interval from the broker, 45 s and 5 s by default: a worker killed on this one-node broker would
        // hold its partitions for 45 s. Ten seconds, and heartbeats (which carry assignment changes) every 2 s.
        props.put("group.consumer.min.session.timeout.ms", "6000");
        props.put("group.consumer.session.timeout.ms", "10000");
        props.put("group.consumer.min.heartbeat.interval.ms", "1000");
        props.put("group.consumer.heartbeat.interval.ms", "2000");
        // The default dedupe buffer is 128 MiB of heap per broker, allocated up front.
        props.put("log.cleaner.dedupe.buffer.size", Integer.toString(16 * 1024 * 1024));

        props.putAll(options.brokerProperties());
        return props;
    }

    /**
     * Locks {@code dataDir} for this broker's lifetime. Kafka locks a log directory only when its
     * broker part starts, after the controller part has opened the metadata log in the same
     * directory; this lock keeps a second broker away from the directory altogether.
     */
    private static FileLock lockDataDir(Path dataDir) {
        FileChannel channel = null;
        try {
            Files.createDirectories(dataDir);
            channel = FileChannel.open(dataDir.resolve(LOCK_FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock = channel.tryLock();
            if (lock == null) {
                throw new IllegalStateException("Kafka data directory " + dataDir + " is in use by another process");
            }
            return lock;
        } catch (OverlappingFileLockException e) {
            closeQuietly(channel);
            throw new IllegalStateException(
                    "Kafka data directory " + dataDir + " is in use by another broker in this JVM");
        } catch (IOException e) {
            closeQuietly(channel);
            throw new UncheckedIOException("cannot lock Kafka data directory " + dataDir, e);
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        }
    }

    private static void release(FileLock lock) {
        try {
            lock.release();
        } catch (IOException e) {
            LOGGER.warn("Could not release the lock on a Kafka data directory", e);
        } finally {
            closeQuietly(lock.channel());
        }
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel == null) {
            return;
        }
        try {
            channel.close();
        } catch (IOException e) {
            LOGGER.debug("Could not close {}", channel, e);
        }
    }

    /** Formats {@code dataDir} unless it already is, and returns its cluster id. */
    private static String formatIfNeeded(Path dataDir) {
        try {
            Optional<String> existing = existingClusterId(dataDir);
            if (existing.isPresent()) {
                LOGGER.debug("Kafka data directory {} already formatted for cluster {}", dataDir, existing.get());
                return existing.get();
            }
            String clusterId = Uuid.randomUuid().toString();
            ByteArrayOutputStream formatterOutput = new ByteArrayOutputStream();
            new Formatter()
                    .setPrintStream(new PrintStream(formatterOutput, true, StandardCharsets.UTF_8))
                    .setNodeId(NODE_ID)
                    .setClusterId(clusterId)
                    .setDirectories(List.of(dataDir.toString()))
                    .setMetadataLogDirectory(dataDir.toString())
                    .setControllerListenerName(CONTROLLER_LISTENER)
                    .run();
            LOGGER.debug(
                    "Kafka data directory {} formatted for cluster {}: {}",
                    dataDir,
                    clusterId,
                    formatterOutput.toString(StandardCharsets.UTF_8).trim());
            return clusterId;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read Kafka data directory " + dataDir, e);
        } catch (Exception e) {
            throw new IllegalStateException("cannot format Kafka data directory " + dataDir + ": " + e.getMessage(), e);
        }
    }

    private static Optional<String> existingClusterId(Path dataDir) throws IOException {
        if (!Files.exists(dataDir.resolve(MetaPropertiesEnsemble.META_PROPERTIES_NAME))) {
            return Optional.empty();
        }
        MetaPropertiesEnsemble ensemble = new MetaPropertiesEnsemble.Loader()
                .addLogDirs(List.of(dataDir.toString()))
                .addMetadataLogDir(dataDir.toString())
                .load();
        return Optional.of(ensemble.clusterId()
                .orElseThrow(() -> new IllegalStateException(
                        "Kafka data directory " + dataDir + " has a meta.properties without a cluster id")));
    }

    private static void awaitReady(String bootstrapServers, Duration timeout) {
        Map<String, Object> config = Map.of(
                AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrapServers,
                AdminClientConfig.CLIENT_ID_CONFIG,
                "embedded-kafka-readiness");
        int timeoutMs = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
        try (Admin admin = Admin.create(config)) {
            Collection<Node> nodes = admin.describeCluster(new DescribeClusterOptions().timeoutMs(timeoutMs))
                    .nodes()
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (nodes.stream().noneMatch(node -> node.id() == NODE_ID)) {
                throw new IllegalStateException(
                        "Kafka broker at " + bootstrapServers + " answered without itself: " + nodes);
            }
        } catch (TimeoutException e) {
            throw new IllegalStateException(
                    "Kafka broker at " + bootstrapServers + " did not answer describeCluster " + "within " + timeout,
                    e);
        } catch (ExecutionException e) {
            throw new IllegalStateException(
                    "Kafka broker at " + bootstrapServers + " did not become ready within " + timeout + ": "
                            + e.getCause(),
                    e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for Kafka broker at " + bootstrapServers, e);
        }
    }

    private static void shutdown(KafkaRaftServer server) {
        try {
            server.shutdown();
            server.awaitShutdown();
        } catch (RuntimeException e) {
            LOGGER.warn("Kafka broker did not shut down cleanly", e);
        }
    }

    private static boolean causedByBindFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof BindException) {
                return true;
            }
        }
        return false;
    }

    private static int freePortOtherThan(int excluded) {
        for (int i = 0; i < 10; i++) {
            try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName(HOST))) {
                int port = socket.getLocalPort();
                if (port != excluded) {
                    return port;
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot find a free port on " + HOST, e);
            }
        }
        throw new IllegalStateException("cannot find a free port on " + HOST);
    }
}
