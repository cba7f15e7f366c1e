package io.batchagent.testkit;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.batchagent.schemas.serde.FingerprintSchemaIds;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.kafka.common.errors.SerializationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A tiny Confluent-compatible Schema Registry in this JVM, for tests of code that speaks the
 * registry's REST API. It serves the two calls that the Confluent wire format needs, as the
 * Confluent Schema Registry API reference documents them:
 *
 * <ul>
 *   <li>{@code POST /subjects/{subject}/versions} with {@code {"schema": "<Avro schema>"}}: answers
 *       {@code {"id": N}}. Ids are global and start at 1: the same schema gets the same id under
 *       every subject, a new schema a new id. Schemas are the same when their parsed Avro forms
 *       print the same ({@code Schema.toString()}). A schema new to a subject is checked for
 *       {@code BACKWARD} compatibility (the registry's default) with the subject's latest version:
 *       409 with {@code error_code} 409 if incompatible. 422 with {@code error_code} 42201 for an
 *       empty or invalid schema, a {@code schemaType} other than {@code AVRO}, or references. 415
 *       for a Content-Type other than {@code application/vnd.schemaregistry.v1+json},
 *       {@code application/vnd.schemaregistry+json} or {@code application/json}.
 *   <li>{@code GET /schemas/ids/{id}}: answers {@code {"schema": "..."}}, or 404 with
 *       {@code {"error_code":40403,"message":"Schema not found"}}.
 * </ul>
 *
 * And the two calls of Apicurio Registry's v2 API that Apicurio's Avro converter makes in
 * {@code as-confluent} mode with {@code use-id=contentId}, so that Kafka Connect sinks can read BatchAgent's
 * topics through the real converter (the routes also answer under an {@code /apis/registry/v2} prefix):
 *
 * <ul>
 *   <li>{@code GET /ids/contentIds/{id}}: the schema itself, raw, as {@code application/json}; 404 with
 *       {@code {"error_code":404,"message":"No content with id ..."}} for an unknown id.
 *   <li>{@code GET /ids/contentIds/{id}/references}: {@code []} (schemas here have no references).
 * </ul>
 *
 * Ids are resolved in this registry first, then as the embedded default's fingerprint ids
 * ({@link FingerprintSchemaIds}): records that an embedded run wrote without any registry can be read through
 * this one. Other paths answer 404 (error code 404), other methods on these paths 405 (error code 405).
 * Confluent responses are {@code application/vnd.schemaregistry.v1+json}. Nothing is persisted.
 *
 * <p>{@link #main(String[])} runs one as a process of its own, for local Connect sinks ({@code connectors/sink}).
 *
 * <p>A fault switch imitates an outage: {@link #failNextCalls(int, int)} makes the next calls (of
 * either kind) answer an error status, as a registry that is down behind a proxy does; the calls are
 * counted as usual.
 *
 * <p>{@link #url()} has a per-instance path, so clients that cache by URL never confuse two
 * registries that happen to get the same port one after the other. Thread-safe.
 */
public final class InProcessSchemaRegistry implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(InProcessSchemaRegistry.class);

    static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";
    private static final Set<String> ACCEPTED_CONTENT_TYPES =
            Set.of(CONTENT_TYPE, "application/vnd.schemaregistry+json", "application/json");
    private static final Pattern REGISTER = Pattern.compile("/subjects/([^/]+)/versions/?");
    private static final Pattern SCHEMA_BY_ID = Pattern.compile("/schemas/ids/([^/]+)/?");
    private static final Pattern CONTENT_BY_ID =
            Pattern.compile("(?:/apis/registry/v2)?/ids/contentIds/([^/]+)(/references)?/?");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final AtomicInteger INSTANCES = new AtomicInteger();

    private final HttpServer server;
    private final ExecutorService executor;
    private final String basePath;
    private final String url;

    private final AtomicInteger registerCalls = new AtomicInteger();
    private final AtomicInteger failuresLeft = new AtomicInteger();
    private volatile int failureStatus = 503;
    private final AtomicInteger schemaByIdCalls = new AtomicInteger();
    private final AtomicInteger contentByIdCalls = new AtomicInteger();
    private final FingerprintSchemaIds fingerprintIds = new FingerprintSchemaIds();
    /** Guarded by {@code this}. */
    private final Map<String, Integer> idsBySchema = new HashMap<>();
    /** Guarded by {@code this}. */
    private final Map<Integer, Schema> schemasById = new HashMap<>();
    /** Each subject's versions, oldest first, as schema ids. Guarded by {@code this}. */
    private final Map<String, List<Integer>> versionsBySubject = new HashMap<>();

    private InProcessSchemaRegistry(HttpServer server, ExecutorService executor, String basePath) {
        this.server = server;
        this.executor = executor;
        this.basePath = basePath;
        this.url = "http://" + server.getAddress().getHostString() + ":"
                + server.getAddress().getPort() + basePath;
    }

    /** Starts a registry on 127.0.0.1 on a free port. */
    public static InProcessSchemaRegistry start() {
        return start(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), "/registry-" + INSTANCES.incrementAndGet());
    }

    /**
     * Runs a registry until the process is stopped: {@code [--host HOST] [--port PORT]} (default
     * 127.0.0.1:8081), at the root path. Prints its URL on stdout: the base for {@code schema.registry.url}
     * and for {@code apicurio.registry.url} (which may also end in {@code /apis/registry/v2}).
     */
    public static void main(String[] args) throws InterruptedException {
        String host = "127.0.0.1";
        int port = 8081;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--host" -> host = args[++i];
                case "--port" -> port = Integer.parseInt(args[++i]);
                default ->
                    throw new IllegalArgumentException("unknown option " + args[i] + "; use --host HOST --port PORT");
            }
        }
        InProcessSchemaRegistry registry = start(new InetSocketAddress(host, port), "");
        Runtime.getRuntime().addShutdownHook(new Thread(registry::close, "schema-registry-shutdown"));
        System.out.println(registry.url());
        Thread.currentThread().join();
    }

    private static InProcessSchemaRegistry start(InetSocketAddress address, String basePath) {
        HttpServer server;
        try {
            server = HttpServer.create(address, 0);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the in-process schema registry", e);
        }
        ExecutorService executor = Executors.newCachedThreadPool(runnable -> {
            Thread thread = new Thread(runnable, "in-process-schema-registry");
            thread.setDaemon(true);
            return thread;
        });
        InProcessSchemaRegistry registry = new InProcessSchemaRegistry(server, executor, basePath);
        server.createContext(basePath.isEmpty() ? "/" : basePath, registry::handle);
        server.setExecutor(executor);
        server.start();
        LOGGER.debug("Schema registry started at {}", registry.url);
        return registry;
    }

    /** The base URL for {@code schema.registry.url}, e.g. {@code http://127.0.0.1:40123/registry-1}. */
    public String url() {
        return url;
    }

    /** How many {@code POST /subjects/{subject}/versions} calls arrived, successful or not. */
    public int registerCalls() {
        return registerCalls.get();
    }

    /** How many {@code GET /schemas/ids/{id}} calls arrived, successful or not. */
    public int schemaByIdCalls() {
        return schemaByIdCalls.get();
    }

    /** How many Apicurio {@code GET /ids/contentIds/{id}} calls (schema or references) arrived, successful or not. */
    public int contentByIdCalls() {
        return contentByIdCalls.get();
    }

    /**
     * Makes the next {@code calls} calls answer HTTP {@code status} (for example 503) with error code
     * {@code status * 100 + 1}, whatever they ask; later calls are served again.
     */
    public void failNextCalls(int calls, int status) {
        this.failureStatus = status;
        failuresLeft.set(calls);
    }

    /** The subjects that have at least one version, sorted. */
    public synchronized Set<String> subjects() {
        return new TreeSet<>(versionsBySubject.keySet());
    }

    /** The id of {@code subject}'s latest version, if the subject exists. */
    public synchronized Optional<Integer> latestId(String subject) {
        List<Integer> versions = versionsBySubject.get(subject);
        return versions == null ? Optional.empty() : Optional.of(versions.get(versions.size() - 1));
    }

    /** Stops the server at once; calls in progress may fail. Idempotent. */
    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "InProcessSchemaRegistry[" + url + "]";
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            Response response;
            try {
                response = route(exchange);
            } catch (RuntimeException e) {
                LOGGER.warn(
                        "Schema registry failed on {} {}", exchange.getRequestMethod(), exchange.getRequestURI(), e);
                response = Response.error(500, 500, "Internal Server Error: " + e);
            }
            byte[] body = response.body().toString().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", response.contentType());
            exchange.sendResponseHeaders(response.status(), body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        }
    }

    private Response route(HttpExchange exchange) throws IOException {
        // getPath() is decoded: subjects arrive percent-encoded.
        String path = exchange.getRequestURI().getPath().substring(basePath.length());
        String method = exchange.getRequestMethod();
        Matcher register = REGISTER.matcher(path);
        Matcher schemaById = SCHEMA_BY_ID.matcher(path);
        Matcher contentById = CONTENT_BY_ID.matcher(path);
        if (register.matches() || schemaById.matches() || contentById.matches()) {
            (register.matches() ? registerCalls : schemaById.matches() ? schemaByIdCalls : contentByIdCalls)
                    .incrementAndGet();
            if (failuresLeft.getAndUpdate(left -> Math.max(0, left - 1)) > 0) {
                return Response.error(
                        failureStatus, failureStatus * 100 + 1, "HTTP " + failureStatus + " (fault switch)");
            }
        }
        if (register.matches()) {
            if (!method.equals("POST")) {
                return Response.error(405, 405, "HTTP 405 Method Not Allowed");
            }
            return register(register.group(1), exchange);
        }
        if (schemaById.matches()) {
            if (!method.equals("GET")) {
                return Response.error(405, 405, "HTTP 405 Method Not Allowed");
            }
            return schemaById(schemaById.group(1));
        }
        if (contentById.matches()) {
            if (!method.equals("GET")) {
                return Response.error(405, 405, "HTTP 405 Method Not Allowed");
            }
            return contentById(contentById.group(1), contentById.group(2) != null);
        }
        return Response.error(404, 404, "HTTP 404 Not Found");
    }

    private Response register(String subject, HttpExchange exchange) throws IOException {
        if (!acceptedContentType(exchange.getRequestHeaders().getFirst("Content-Type"))) {
            return Response.error(415, 415, "HTTP 415 Unsupported Media Type");
        }
        JsonNode request;
        try (InputStream in = exchange.getRequestBody()) {
            request = JSON.readTree(in);
        } catch (JsonProcessingException e) {
            return Response.error(400, 400, "Unparseable request body: " + e.getOriginalMessage());
        }
        if (request == null || !request.isObject()) {
            return Response.error(400, 400, "The request body must be a JSON object");
        }
        String schemaType = request.path("schemaType").asText("AVRO");
        if (!schemaType.equals("AVRO")) {
            return Response.error(
                    422, 42201, "Invalid schema type " + schemaType + ": this in-process registry supports AVRO only");
        }
        if (request.path("references").size() > 0) {
            return Response.error(422, 42201, "Invalid schema: this in-process registry supports no references");
        }
        String schemaText = request.path("schema").asText("");
        if (schemaText.isBlank()) {
            return Response.error(422, 42201, "Empty schema");
        }
        Schema schema;
        try {
            schema = new Schema.Parser().parse(schemaText);
        } catch (AvroRuntimeException | IllegalArgumentException e) {
            return Response.error(422, 42201, "Invalid schema: " + e.getMessage());
        }
        return register(subject, schema);
    }

    private synchronized Response register(String subject, Schema schema) {
        String canonical = schema.toString();
        Integer existingId = idsBySchema.get(canonical);
        List<Integer> versions = versionsBySubject.computeIfAbsent(subject, s -> new ArrayList<>());
        if (existingId != null && versions.contains(existingId)) {
            return Response.id(existingId);
        }
        if (!versions.isEmpty()) {
            Schema latest = schemasById.get(versions.get(versions.size() - 1));
            SchemaCompatibility.SchemaCompatibilityType compatibility =
                    SchemaCompatibility.checkReaderWriterCompatibility(schema, latest)
                            .getType();
            if (compatibility != SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE) {
                return Response.error(
                        409,
                        409,
                        "Schema being registered is incompatible with an earlier schema for " + "subject \"" + subject
                                + "\"");
            }
        }
        int id = existingId != null ? existingId : schemasById.size() + 1;
        idsBySchema.put(canonical, id);
        schemasById.put(id, schema);
        versions.add(id);
        LOGGER.debug(
                "Registered schema {} as id {} version {} of subject {}",
                schema.getFullName(),
                id,
                versions.size(),
                subject);
        return Response.id(id);
    }

    private Response schemaById(String idText) {
        Schema schema = lookUp(idText);
        if (schema == null) {
            return Response.error(404, 40403, "Schema not found");
        }
        return new Response(200, JSON.createObjectNode().put("schema", schema.toString()));
    }

    private Response contentById(String idText, boolean references) {
        Schema schema = lookUp(idText);
        if (schema == null) {
            return Response.error(404, 404, "No content with id " + idText);
        }
        if (references) {
            return new Response(200, JSON.createArrayNode(), "application/json");
        }
        try {
            return new Response(200, JSON.readTree(schema.toString()), "application/json");
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("an Avro schema that does not print as JSON: " + schema.getFullName(), e);
        }
    }

    /** A schema registered here, else an embedded fingerprint id's; null when neither knows the id. */
    private Schema lookUp(String idText) {
        int id;
        try {
            id = Integer.parseInt(idText);
        } catch (NumberFormatException e) {
            return null;
        }
        synchronized (this) {
            Schema registered = schemasById.get(id);
            if (registered != null) {
                return registered;
            }
        }
        try {
            return fingerprintIds.schemaById(id);
        } catch (SerializationException e) {
            return null;
        }
    }

    private static boolean acceptedContentType(String header) {
        if (header == null) {
            return false;
        }
        String mediaType = header.split(";", 2)[0].trim().toLowerCase(Locale.ROOT);
        return ACCEPTED_CONTENT_TYPES.contains(mediaType);
    }

    private record Response(int status, JsonNode body, String contentType) {

        Response(int status, JsonNode body) {
            this(status, body, CONTENT_TYPE);
        }

        static Response id(int id) {
            return new Response(200, JSON.createObjectNode().put("id", id));
        }

        static Response error(int status, int errorCode, String message) {
            return new Response(
                    status, JSON.createObjectNode().put("error_code", errorCode).put("message", message));
        }
    }
}
