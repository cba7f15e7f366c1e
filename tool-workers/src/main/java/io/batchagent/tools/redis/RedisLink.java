package io.batchagent.tools.redis;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One worker's Lettuce connection to Redis, shared by its result cache and its limits, built so that
 * a Redis that is slow or gone never holds up a tool call.
 *
 * <ul>
 *   <li>Connecting never blocks and never fails the worker: {@link #connect} starts the connection in
 *       the background; while it is not up, {@link #connection()} is empty and callers go on without
 *       Redis. A failed connect is retried, at most once per {@code retryInterval}, when asked for.
 *   <li>Once connected, Lettuce reconnects by itself; commands issued while it is disconnected are
 *       rejected at once rather than queued, and every command times out after
 *       {@code commandTimeout}.
 *   <li>A caller that sees a command fail reports it with {@link #failed}; Redis is then bypassed for
 *       {@code retryInterval}, so that a Redis that answers nothing costs one timeout per interval,
 *       not one per call.
 * </ul>
 *
 * <p>Thread-safe.
 */
public final class RedisLink implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(RedisLink.class);

    private final RedisSettings settings;
    private final RedisClient client;
    private final RedisURI uri;
    private final LongSupplier nanoClock;
    private final Object lock = new Object();
    private StatefulRedisConnection<byte[], byte[]> connection;
    private CompletableFuture<StatefulRedisConnection<byte[], byte[]>> connecting;
    private long nextAttemptNanos;
    private volatile long bypassUntilNanos;
    private boolean warnedUnreachable;
    private volatile boolean closed;

    private RedisLink(RedisSettings settings, LongSupplier nanoClock) {
        this.settings = settings;
        this.nanoClock = nanoClock;
        this.uri = RedisURI.create(settings.url());
        uri.setTimeout(settings.commandTimeout());
        this.client = RedisClient.create(uri);
        client.setOptions(ClientOptions.builder()
                .autoReconnect(true)
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                .timeoutOptions(TimeoutOptions.enabled(settings.commandTimeout()))
                .socketOptions(SocketOptions.builder()
                        .connectTimeout(connectTimeout(settings))
                        .build())
                .build());
    }

    /** Creates the link and starts connecting in the background. */
    public static RedisLink connect(RedisSettings settings) {
        RedisLink link = new RedisLink(settings, System::nanoTime);
        link.connection();
        return link;
    }

    public RedisSettings settings() {
        return settings;
    }

    /** {@code keyPrefix} followed by {@code parts}, as the bytes of a Redis key. */
    public byte[] key(String... parts) {
        StringBuilder key = new StringBuilder(settings.keyPrefix());
        for (String part : parts) {
            key.append(part);
        }
        return key.toString().getBytes(StandardCharsets.UTF_8);
    }

    /**
     * The connection, if Redis may be used now: connected, open and not bypassed after a failure.
     * Never blocks.
     */
    public Optional<StatefulRedisConnection<byte[], byte[]>> connection() {
        if (closed) {
            return Optional.empty();
        }
        long now = nanoClock.getAsLong();
        if (now - bypassUntilNanos < 0) {
            return Optional.empty();
        }
        synchronized (lock) {
            if (connection != null) {
                return connection.isOpen() ? Optional.of(connection) : Optional.empty();
            }
            if (connecting == null && now - nextAttemptNanos >= 0) {
                startConnecting(now);
            }
            return Optional.empty();
        }
    }

    /** True if {@link #connection()} would give a connection now. */
    public boolean available() {
        return connection().isPresent();
    }

    /** Reports a failed command: Redis is bypassed for {@code retryInterval}. */
    public void failed(Throwable error) {
        bypassUntilNanos = nanoClock.getAsLong() + settings.retryInterval().toNanos();
        LOGGER.debug("Redis command failed; bypassing Redis for {}: {}", settings.retryInterval(), error.toString());
    }

    private void startConnecting(long now) {
        nextAttemptNanos = now + settings.retryInterval().toNanos();
        CompletableFuture<StatefulRedisConnection<byte[], byte[]>> attempt =
                client.connectAsync(ByteArrayCodec.INSTANCE, uri).toCompletableFuture();
        connecting = attempt;
        attempt.whenComplete((connected, error) -> {
            synchronized (lock) {
                connecting = null;
                if (error == null && !closed) {
                    connection = connected;
                    warnedUnreachable = false;
                    LOGGER.info("connected to Redis at {}", settings.maskedUrl());
                    return;
                }
                if (error != null && !warnedUnreachable) {
                    // Once per outage: a retry every interval must not write a line each time.
                    warnedUnreachable = true;
                    LOGGER.warn(
                            "cannot connect to Redis at {}; tools run without the shared cache and limits until it answers: {}",
                            settings.maskedUrl(),
                            rootMessage(error));
                    return;
                }
            }
            if (error == null) {
                connected.closeAsync(); // closed while connecting
            } else {
                LOGGER.debug("still cannot connect to Redis at {}: {}", settings.maskedUrl(), rootMessage(error));
            }
        });
    }

    /** Waits up to {@code timeout} for the first connection; for startup checks and tests. */
    public boolean awaitConnected(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() - deadline < 0) {
            CompletableFuture<StatefulRedisConnection<byte[], byte[]>> attempt;
            synchronized (lock) {
                if (connection != null && connection.isOpen()) {
                    return true;
                }
                attempt = connecting;
            }
            if (attempt == null) {
                connection();
                synchronized (lock) {
                    attempt = connecting;
                }
                if (attempt == null) {
                    return connection().isPresent();
                }
            }
            try {
                attempt.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            } catch (Exception e) {
                return false;
            }
        }
        return connection().isPresent();
    }

    @Override
    public void close() {
        closed = true;
        StatefulRedisConnection<byte[], byte[]> open;
        synchronized (lock) {
            open = connection;
            connection = null;
        }
        try {
            if (open != null) {
                open.close();
            }
        } finally {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
    }

    @Override
    public String toString() {
        return "RedisLink[" + settings.maskedUrl() + "]";
    }

    private static Duration connectTimeout(RedisSettings settings) {
        Duration doubled = settings.commandTimeout().multipliedBy(2);
        return doubled.compareTo(Duration.ofSeconds(2)) < 0 ? doubled : Duration.ofSeconds(2);
    }

    static String rootMessage(Throwable error) {
        Throwable root = error;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.toString();
    }
}
