package io.batchagent.gateway;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Settings of a {@link Gateway}. A null argument takes the default.
 *
 * @param host address the gateway listens on. Default {@value #DEFAULT_HOST}: only this machine can reach it.
 * @param port port to listen on; 0 picks a free one. Default 0.
 * @param model the model the backend serves: listed by {@code GET /v1/models} and named in warm-up calls.
 *     Required.
 * @param maxInflight model calls forwarded to the engine at once, for all clients together; further calls
 *     wait in the gateway, continuing sessions first. At least 1. Default {@value #DEFAULT_MAX_INFLIGHT}.
 * @param allowedClients addresses besides loopback that may call the gateway: IPv4 or IPv6 addresses, or
 *     CIDR blocks ({@code 10.0.0.0/8}). Loopback clients are always allowed. Default none.
 * @param accessToken when set, every call must carry {@code Authorization: Bearer <token>}; checked in
 *     constant time, never logged. Default none.
 * @param maxRequestBytes the largest request body accepted (413 above it). Default 32 MiB.
 * @param warmUpTimeout how long a warm-up call and its probes may take in all before the warm-up
 *     session is answered anyway. Positive. Default 30 s.
 */
public record GatewayConfig(
        String host,
        Integer port,
        String model,
        Integer maxInflight,
        List<String> allowedClients,
        String accessToken,
        Integer maxRequestBytes,
        Duration warmUpTimeout) {

    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final int DEFAULT_MAX_INFLIGHT = 32;
    public static final int DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024;
    public static final Duration DEFAULT_WARM_UP_TIMEOUT = Duration.ofSeconds(30);

    public GatewayConfig {
        host = host == null || host.isBlank() ? DEFAULT_HOST : host;
        port = port == null ? 0 : port;
        Objects.requireNonNull(model, "model");
        maxInflight = maxInflight == null ? DEFAULT_MAX_INFLIGHT : maxInflight;
        allowedClients = allowedClients == null ? List.of() : List.copyOf(allowedClients);
        accessToken = accessToken == null || accessToken.isBlank() ? null : accessToken;
        maxRequestBytes = maxRequestBytes == null ? DEFAULT_MAX_REQUEST_BYTES : maxRequestBytes;
        warmUpTimeout = warmUpTimeout == null ? DEFAULT_WARM_UP_TIMEOUT : warmUpTimeout;

        if (model.isBlank()) {
            throw new IllegalArgumentException("model must not be blank");
        }
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException("port must be 0..65535, got " + port);
        }
        if (maxInflight < 1) {
            throw new IllegalArgumentException("maxInflight must be at least 1, got " + maxInflight);
        }
        if (maxRequestBytes < 1024) {
            throw new IllegalArgumentException("maxRequestBytes must be at least 1024, got " + maxRequestBytes);
        }
        if (warmUpTimeout.isNegative() || warmUpTimeout.isZero()) {
            throw new IllegalArgumentException("warmUpTimeout must be positive, got " + warmUpTimeout);
        }
        // Fails here, naming the entry, rather than at the first request.
        ClientPolicy.parseAll(allowedClients);
    }

    /** Defaults for everything but the model. */
    public static GatewayConfig forModel(String model) {
        return new GatewayConfig(null, null, model, null, null, null, null, null);
    }

    public GatewayConfig withHost(String value) {
        return new GatewayConfig(
                value, port, model, maxInflight, allowedClients, accessToken, maxRequestBytes, warmUpTimeout);
    }

    public GatewayConfig withPort(int value) {
        return new GatewayConfig(
                host, value, model, maxInflight, allowedClients, accessToken, maxRequestBytes, warmUpTimeout);
    }

    public GatewayConfig withMaxInflight(int value) {
        return new GatewayConfig(host, port, model, value, allowedClients, accessToken, maxRequestBytes, warmUpTimeout);
    }

    public GatewayConfig withAllowedClients(List<String> value) {
        return new GatewayConfig(host, port, model, maxInflight, value, accessToken, maxRequestBytes, warmUpTimeout);
    }

    public GatewayConfig withAccessToken(String value) {
        return new GatewayConfig(host, port, model, maxInflight, allowedClients, value, maxRequestBytes, warmUpTimeout);
    }

    public GatewayConfig withWarmUpTimeout(Duration value) {
        return new GatewayConfig(host, port, model, maxInflight, allowedClients, accessToken, maxRequestBytes, value);
    }

    @Override
    public String toString() {
        return "GatewayConfig[host=" + host + ", port=" + port + ", model=" + model + ", maxInflight=" + maxInflight
                + ", allowedClients=" + allowedClients + ", accessToken=" + (accessToken == null ? "none" : "****")
                + ", maxRequestBytes=" + maxRequestBytes + ", warmUpTimeout=" + warmUpTimeout + "]";
    }
}
