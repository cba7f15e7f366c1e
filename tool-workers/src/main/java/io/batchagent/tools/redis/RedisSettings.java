package io.batchagent.tools.redis;

import java.net.URI;
import java.time.Duration;
import java.util.Objects;

/**
 * Where the shared result cache and the cross-worker limits live.
 *
 * @param url a Redis URI ({@code redis://[:password@]host:port[/db]}, {@code rediss://} for TLS);
 *     it may carry a password, so it never appears in {@link #toString()} or in logs unmasked
 * @param keyPrefix prepended to every key this worker writes, so that deployments (and tests)
 *     sharing one Redis do not meet; default {@value #DEFAULT_KEY_PREFIX}
 * @param commandTimeout how long a Redis command may take before the call goes on without it;
 *     default 2 s: a busy host can delay one answer of a healthy Redis past half a second, and a call run
 *     again costs more than waiting (a Redis that is down refuses at once, and a hung one is then
 *     bypassed for {@code retryInterval})
 * @param retryInterval how long Redis is bypassed after a failure before it is tried again;
 *     default 1 s
 */
public record RedisSettings(String url, String keyPrefix, Duration commandTimeout, Duration retryInterval) {

    public static final String DEFAULT_KEY_PREFIX = "batchagent:";

    public RedisSettings {
        Objects.requireNonNull(url, "url");
        URI parsed;
        try {
            parsed = URI.create(url);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Redis URL is not a URI: " + mask(url), e);
        }
        if (!"redis".equals(parsed.getScheme()) && !"rediss".equals(parsed.getScheme())) {
            throw new IllegalArgumentException("Redis URL must start with redis:// or rediss://, got " + mask(url));
        }
        keyPrefix = keyPrefix == null ? DEFAULT_KEY_PREFIX : keyPrefix;
        commandTimeout = commandTimeout == null ? Duration.ofSeconds(2) : commandTimeout;
        retryInterval = retryInterval == null ? Duration.ofSeconds(1) : retryInterval;
        if (commandTimeout.isNegative() || commandTimeout.isZero()) {
            throw new IllegalArgumentException("Redis commandTimeout must be positive, got " + commandTimeout);
        }
        if (retryInterval.isNegative()) {
            throw new IllegalArgumentException("Redis retryInterval must not be negative, got " + retryInterval);
        }
    }

    /** Settings with the default key prefix and timings. */
    public static RedisSettings of(String url) {
        return new RedisSettings(url, null, null, null);
    }

    public RedisSettings withKeyPrefix(String prefix) {
        return new RedisSettings(url, prefix, commandTimeout, retryInterval);
    }

    public RedisSettings withCommandTimeout(Duration timeout) {
        return new RedisSettings(url, keyPrefix, timeout, retryInterval);
    }

    public RedisSettings withRetryInterval(Duration interval) {
        return new RedisSettings(url, keyPrefix, commandTimeout, interval);
    }

    /** The URL with any user information replaced by {@code ***}. */
    public String maskedUrl() {
        return mask(url);
    }

    @Override
    public String toString() {
        return "RedisSettings[url=" + maskedUrl() + ", keyPrefix=" + keyPrefix + ", commandTimeout=" + commandTimeout
                + ", retryInterval=" + retryInterval + "]";
    }

    static String mask(String url) {
        int scheme = url.indexOf("://");
        int at = url.lastIndexOf('@');
        if (scheme < 0 || at < scheme) {
            return url;
        }
        return url.substring(0, scheme + 3) + "***" + url.substring(at);
    }
}
