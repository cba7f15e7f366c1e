package io.batchagent.schemas.serde;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.SerializationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client for the Confluent Schema Registry REST API, limited to the two calls the wire format
 * needs: {@code POST /subjects/{subject}/versions} and {@code GET /schemas/ids/{id}}. Karapace and
 * Apicurio's ccompat API serve the same calls. Results are cached for the life of the client.
 *
 * <p>Faults of the registry are told apart from faults of the data. A registry that cannot be reached,
 * times out, or answers 408, 429 or 5xx is retried with exponential backoff (100 ms doubling to 2 s)
 * for up to the retry timeout ({@value #RETRY_TIMEOUT_MS_CONFIG}, default 30 s), then the call fails
 * with a retriable {@link SchemaRegistryUnavailableException}: the record must be tried again later,
 * not dead-lettered. Any other answer (an unknown schema id, an incompatible or invalid schema) fails
 * at once with a {@link SerializationException}. Thread-safe; a call blocks its thread while it retries.
 */
public final class RestSchemaRegistry implements SchemaRegistry {

    public static final String RETRY_TIMEOUT_MS_CONFIG = "schema.registry.retry.timeout.ms";
    public static final Duration DEFAULT_RETRY_TIMEOUT = Duration.ofSeconds(30);

    private static final Logger LOGGER = LoggerFactory.getLogger(RestSchemaRegistry.class);
    private static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long FIRST_BACKOFF_MS = 100;
    private static final long MAX_BACKOFF_MS = 2_000;

    private final String baseUrl;
    private final Duration retryTimeout;
    private final HttpClient http;
    private final Map<String, Integer> idsBySubjectAndSchema = new ConcurrentHashMap<>();
    private final Map<Integer, Schema> schemasById = new ConcurrentHashMap<>();

    public RestSchemaRegistry(String baseUrl) {
        this(baseUrl, DEFAULT_RETRY_TIMEOUT);
    }

    /** @param retryTimeout how long a call is retried while the registry is unavailable; zero for one attempt */
    public RestSchemaRegistry(String baseUrl, Duration retryTimeout) {
        this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        this.retryTimeout = retryTimeout;
        this.http =
                HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    }

    /** The retry timeout a serde configuration sets with {@value #RETRY_TIMEOUT_MS_CONFIG}, or the default. */
    static Duration retryTimeout(Map<String, ?> configs) {
        Object value = configs.get(RETRY_TIMEOUT_MS_CONFIG);
        if (value == null || value.toString().isBlank()) {
            return DEFAULT_RETRY_TIMEOUT;
        }
        try {
            long millis = Long.parseLong(value.toString().trim());
            if (millis < 0) {
                throw new ConfigException(RETRY_TIMEOUT_MS_CONFIG, value, "must not be negative");
            }
            return Duration.ofMillis(millis);
        } catch (NumberFormatException e) {
            throw new ConfigException(RETRY_TIMEOUT_MS_CONFIG, value, "must be a number of milliseconds");
        }
    }

    @Override
    public int register(String subject, Schema schema) {
        String schemaText = schema.toString();
        String key = subject + '\u0000' + schemaText;
        Integer known = idsBySubjectAndSchema.get(key);
        if (known != null) {
            return known;
        }
        // Not computeIfAbsent: a call that retries for seconds must not hold the map's lock.
        String body = JSON.createObjectNode().put("schema", schemaText).toString();
        HttpRequest request = HttpRequest.newBuilder(URI.create(
                        baseUrl + "/subjects/" + URLEncoder.encode(subject, StandardCharsets.UTF_8) + "/versions"))
                .timeout(Duration.ofSeconds(30))
                .header("Content-Type", CONTENT_TYPE)
                .header("Accept", CONTENT_TYPE)
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        int id = send(request, "register subject " + subject).path("id").asInt(-1);
        if (id < 0) {
            throw new SerializationException("schema registry returned no id for subject " + subject);
        }
        schemasById.putIfAbsent(id, schema);
        idsBySubjectAndSchema.putIfAbsent(key, id);
        return id;
    }

    @Override
    public Schema schemaById(int id) {
        Schema known = schemasById.get(id);
        if (known != null) {
            return known;
        }
        HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + "/schemas/ids/" + id))
                .timeout(Duration.ofSeconds(30))
                .header("Accept", CONTENT_TYPE)
                .GET()
                .build();
        String text = send(request, "fetch schema id " + id).path("schema").asText("");
        Schema schema;
        try {
            schema = new Schema.Parser().parse(text);
        } catch (RuntimeException e) {
            throw new SerializationException(
                    "schema registry returned an unusable schema for id " + id + ": " + e.getMessage(), e);
        }
        Schema raced = schemasById.putIfAbsent(id, schema);
        return raced != null ? raced : schema;
    }

    private JsonNode send(HttpRequest request, String what) {
        long deadline = System.nanoTime() + retryTimeout.toNanos();
        long backoffMs = FIRST_BACKOFF_MS;
        for (int attempt = 1; ; attempt++) {
            SchemaRegistryUnavailableException unavailable;
            try {
                HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
                int status = response.statusCode();
                if (status / 100 == 2) {
                    return parse(response.body(), what);
                }
                if (!retriable(status)) {
                    throw new SerializationException(
                            "schema registry could not " + what + ": HTTP " + status + " " + response.body());
                }
                unavailable = new SchemaRegistryUnavailableException(
                        "schema registry at " + baseUrl + " could not " + what + ": HTTP " + status + " "
                                + response.body() + " (" + attempt + " attempts)",
                        null);
            } catch (IOException e) {
                unavailable = new SchemaRegistryUnavailableException(
                        "schema registry at " + baseUrl + " could not " + what + ": " + e + " (" + attempt
                                + " attempts)",
                        e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptException("interrupted while the schema registry was asked to " + what, e);
            }
            if (System.nanoTime() + backoffMs * 1_000_000 > deadline) {
                throw unavailable;
            }
            if (attempt == 1) {
                LOGGER.warn(
                        "schema registry unavailable, retrying for up to {} ms: {}",
                        retryTimeout.toMillis(),
                        unavailable.getMessage());
            }
            sleep(backoffMs, what);
            backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
        }
    }

    /** Timeouts, throttling and server faults pass; anything else (404 unknown id, 409, 422) is about the data. */
    private static boolean retriable(int status) {
        return status == 408 || status == 429 || status / 100 == 5;
    }

    private static JsonNode parse(String body, String what) {
        try {
            return JSON.readTree(body);
        } catch (JsonProcessingException e) {
            throw new SerializationException(
                    "schema registry answered " + what + " with invalid JSON: " + e.getOriginalMessage(), e);
        }
    }

    private static void sleep(long millis, String what) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptException("interrupted while the schema registry was asked to " + what, e);
        }
    }
}
