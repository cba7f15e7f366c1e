package io.batchagent.tools.redis;

import io.batchagent.events.ToolResult;
import io.batchagent.schemas.serde.EventSerdes;
import io.batchagent.tools.ToolResultCache;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.SetArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.avro.AvroRuntimeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The result cache shared by every tool worker: one Redis string per call hash
 * ({@code <keyPrefix>result:<callHash>}), holding the {@link ToolResult} in Avro single-object
 * encoding, with the tool's TTL as its Redis expiry; and one claim per call being run
 * ({@code <keyPrefix>claim:<callHash>}, the owner's id, expiring with its lease), taken and released
 * by small Lua scripts so that a claim is only ever deleted by its owner.
 *
 * <p>While Redis cannot be used ({@link RedisLink#connection()} is empty) or a command fails, the
 * stages fail with {@link RedisUnavailableException} at once; the worker reads that as a miss or a
 * lost write and runs the call. An entry that no longer decodes (written under another schema) is a
 * miss. Thread-safe; the cache does not own the link.
 */
public final class RedisToolResultCache implements ToolResultCache {

    private static final Logger LOGGER = LoggerFactory.getLogger(RedisToolResultCache.class);

    static {
        EventSerdes.trustEventClasses();
    }

    /** KEYS[1] the claim, ARGV[1] the owner, ARGV[2] the lease in ms: 1 if the owner holds the claim afterwards. */
    private static final String CLAIM = "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end "
            + "if redis.call('get', KEYS[1]) == ARGV[1] then return 1 end return 0";
    /** KEYS[1] the claim, ARGV[1] the owner: deletes the claim only if the owner still holds it. */
    private static final String RELEASE =
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end " + "return 0";

    private final RedisLink link;

    public RedisToolResultCache(RedisLink link) {
        this.link = Objects.requireNonNull(link, "link");
    }

    @Override
    public CompletionStage<Optional<ToolResult>> get(String callHash) {
        Optional<StatefulRedisConnection<byte[], byte[]>> connection = link.connection();
        if (connection.isEmpty()) {
            return CompletableFuture.failedFuture(new RedisUnavailableException("Redis is unavailable"));
        }
        return connection.get().async().get(key(callHash)).toCompletableFuture().handle((bytes, error) -> {
            if (error != null) {
                link.failed(error);
                throw new RedisUnavailableException("Redis GET failed: " + RedisLink.rootMessage(error), error);
            }
            return decode(callHash, bytes);
        });
    }

    @Override
    public CompletionStage<Void> put(String callHash, ToolResult result, Duration ttl) {
        if (ttl.isNegative() || ttl.isZero()) {
            throw new IllegalArgumentException("ttl must be positive, got " + ttl);
        }
        Optional<StatefulRedisConnection<byte[], byte[]>> connection = link.connection();
        if (connection.isEmpty()) {
            return CompletableFuture.failedFuture(new RedisUnavailableException("Redis is unavailable"));
        }
        byte[] value;
        try {
            ByteBuffer encoded = ToolResult.getEncoder().encode(result);
            value = new byte[encoded.remaining()];
            encoded.get(value);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
        return connection
                .get()
                .async()
                .set(key(callHash), value, SetArgs.Builder.px(ttl.toMillis()))
                .toCompletableFuture()
                .handle((ok, error) -> {
                    if (error != null) {
                        link.failed(error);
                        throw new RedisUnavailableException("Redis SET failed: " + RedisLink.rootMessage(error), error);
                    }
                    return null;
                });
    }

    @Override
    public CompletionStage<Boolean> claim(String callHash, String owner, Duration lease) {
        if (lease.isNegative() || lease.isZero()) {
            throw new IllegalArgumentException("lease must be positive, got " + lease);
        }
        Optional<StatefulRedisConnection<byte[], byte[]>> connection = link.connection();
        if (connection.isEmpty()) {
            return CompletableFuture.failedFuture(new RedisUnavailableException("Redis is unavailable"));
        }
        byte[] key = claimKey(callHash);
        byte[] self = owner.getBytes(StandardCharsets.UTF_8);
        // SET NX takes a free claim; a claim this owner already holds (a redelivered call) is its own.
        return connection
                .get()
                .async()
                .eval(
                        CLAIM,
                        ScriptOutputType.INTEGER,
                        new byte[][] {key},
                        self,
                        Long.toString(lease.toMillis()).getBytes(StandardCharsets.UTF_8))
                .toCompletableFuture()
                .handle((claimed, error) -> {
                    if (error != null) {
                        link.failed(error);
                        throw new RedisUnavailableException(
                                "Redis claim failed: " + RedisLink.rootMessage(error), error);
                    }
                    return claimed instanceof Long n && n == 1L;
                });
    }

    @Override
    public CompletionStage<Void> release(String callHash, String owner) {
        Optional<StatefulRedisConnection<byte[], byte[]>> connection = link.connection();
        if (connection.isEmpty()) {
            return CompletableFuture.failedFuture(new RedisUnavailableException("Redis is unavailable"));
        }
        return connection
                .get()
                .async()
                .eval(
                        RELEASE,
                        ScriptOutputType.INTEGER,
                        new byte[][] {claimKey(callHash)},
                        owner.getBytes(StandardCharsets.UTF_8))
                .toCompletableFuture()
                .handle((released, error) -> {
                    if (error != null) {
                        link.failed(error);
                        throw new RedisUnavailableException(
                                "Redis release failed: " + RedisLink.rootMessage(error), error);
                    }
                    return null;
                });
    }

    private byte[] key(String callHash) {
        return link.key("result:", callHash);
    }

    private byte[] claimKey(String callHash) {
        return link.key("claim:", callHash);
    }

    private static Optional<ToolResult> decode(String callHash, byte[] bytes) {
        if (bytes == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(ToolResult.getDecoder().decode(ByteBuffer.wrap(bytes)));
        } catch (IOException | AvroRuntimeException e) {
            LOGGER.debug("ignoring a cached result that does not decode: callHash={} error={}", callHash, e.toString());
            return Optional.empty();
        }
    }

    /** Redis could not be asked: not connected, bypassed after a failure, or the command failed. */
    public static final class RedisUnavailableException extends RuntimeException {
        public RedisUnavailableException(String message) {
            super(message);
        }

        public RedisUnavailableException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
