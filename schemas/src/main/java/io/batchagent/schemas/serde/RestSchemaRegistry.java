package io.batchagent.schemas.serde;

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
import org.apache.kafka.common.errors.SerializationException;

/**
 * A client for the Confluent Schema Registry REST API, limited to the two calls the wire format
 * needs: {@code POST /subjects/{subject}/versions} and {@code GET /schemas/ids/{id}}. Karapace and
 * Apicurio's ccompat API serve the same calls. Results are cached for the life of the client.
 */
public final class RestSchemaRegistry implements SchemaRegistry {

    private static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String baseUrl;
    private final HttpClient http;
    private final Map<String, Integer> idsBySubjectAndSchema = new ConcurrentHashMap<>();
    private final Map<Integer, Schema> schemasById = new ConcurrentHashMap<>();

    public RestSchemaRegistry(String baseUrl) {
        this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    }

    @Override
    public int register(String subject, Schema schema) {
        String schemaText = schema.toString();
        return idsBySubjectAndSchema.computeIfAbsent(subject + '\u0000' + schemaText, k -> {
            String body = JSON.createObjectNode().put("schema", schemaText).toString();
            HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + "/subjects/"
                            + URLEncoder.encode(subject, StandardCharsets.UTF_8) + "/versions"))
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
            return id;
        });
    }

    @Override
    public Schema schemaById(int id) {
        return schemasById.computeIfAbsent(id, k -> {
            HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + "/schemas/ids/" + id))
                    .timeout(Duration.ofSeconds(30))
                    .header("Accept", CONTENT_TYPE)
                    .GET()
                    .build();
            String text = send(request, "fetch schema id " + id).path("schema").asText("");
            return new Schema.Parser().parse(text);
        });
    }

    private JsonNode send(HttpRequest request, String what) {
        try {
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() / 100 != 2) {
                throw new SerializationException("schema registry could not " + what + ": HTTP "
                        + response.statusCode() + " " + response.body());
            }
            return JSON.readTree(response.body());
        } catch (IOException e) {
            throw new SerializationException("schema registry at " + baseUrl + " could not " + what, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SerializationException("interrupted while the schema registry was asked to " + what, e);
        }
    }
}
