package io.batchagent.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.AgentResult;
import io.batchagent.schemas.serde.FingerprintSchemaIds;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class InProcessSchemaRegistryTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String USER_V1 = """
            {"type":"record","name":"User","namespace":"test","fields":[{"name":"name","type":"string"}]}""";
    private static final String USER_V2 = """
            {"type":"record","name":"User","namespace":"test","fields":[{"name":"name","type":"string"},
             {"name":"age","type":"int","default":0}]}""";
    private static final String USER_INCOMPATIBLE = """
            {"type":"record","name":"User","namespace":"test","fields":[{"name":"name","type":"string"},
             {"name":"email","type":"string"}]}""";

    private final HttpClient http = HttpClient.newHttpClient();
    private InProcessSchemaRegistry registry;

    @BeforeEach
    void startRegistry() {
        registry = InProcessSchemaRegistry.start();
    }

    @AfterEach
    void stopRegistry() {
        registry.close();
    }

    @Test
    void shouldGiveTheSameSchemaTheSameIdUnderEverySubject() throws Exception {
        // When
        HttpResponse<String> first = register("users-value", USER_V1);
        HttpResponse<String> again = register("users-value", USER_V1);
        HttpResponse<String> otherSubject = register("people-value", " " + USER_V1.replace(",", " , "));

        // Then
        assertThat(first.statusCode()).isEqualTo(200);
        assertThat(first.headers().firstValue("Content-Type")).contains(InProcessSchemaRegistry.CONTENT_TYPE);
        int id = json(first).get("id").asInt();
        assertThat(id).isEqualTo(1);
        assertThat(json(again).get("id").asInt()).isEqualTo(id);
        assertThat(json(otherSubject).get("id").asInt()).isEqualTo(id);
        assertThat(registry.subjects()).containsExactly("people-value", "users-value");
        assertThat(registry.registerCalls()).isEqualTo(3);
    }

    @Test
    void shouldGiveACompatibleNewVersionANewId() throws Exception {
        // Given
        int v1 = json(register("users-value", USER_V1)).get("id").asInt();

        // When
        HttpResponse<String> response = register("users-value", USER_V2);

        // Then
        assertThat(response.statusCode()).isEqualTo(200);
        int v2 = json(response).get("id").asInt();
        assertThat(v2).isNotEqualTo(v1);
        assertThat(registry.latestId("users-value")).contains(v2);
    }

    @Test
    void shouldServeARegisteredSchemaById() throws Exception {
        // Given
        int id = json(register("users-value", USER_V1)).get("id").asInt();

        // When
        HttpResponse<String> response = get("/schemas/ids/" + id);

        // Then
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(json(response).get("schema").asText())).isEqualTo(JSON.readTree(USER_V1));
        assertThat(registry.schemaByIdCalls()).isEqualTo(1);
    }

    @Test
    void shouldAnswer40403ForAnUnknownId() throws Exception {
        // When
        HttpResponse<String> response = get("/schemas/ids/42");

        // Then
        assertThat(response.statusCode()).isEqualTo(404);
        assertThat(json(response).get("error_code").asInt()).isEqualTo(40403);
        assertThat(json(response).get("message").asText()).isEqualTo("Schema not found");
    }

    @Test
    void shouldRejectAnInvalidSchemaWith42201() throws Exception {
        // When
        HttpResponse<String> response = register("users-value", "{\"type\":\"record\",\"name\":\"NoFields\"}");

        // Then
        assertThat(response.statusCode()).isEqualTo(422);
        assertThat(json(response).get("error_code").asInt()).isEqualTo(42201);
        assertThat(registry.subjects()).isEmpty();
    }

    @Test
    void shouldRejectABackwardIncompatibleSchemaWith409() throws Exception {
        // Given
        register("users-value", USER_V1);

        // When
        HttpResponse<String> response = register("users-value", USER_INCOMPATIBLE);

        // Then
        assertThat(response.statusCode()).isEqualTo(409);
        assertThat(json(response).get("error_code").asInt()).isEqualTo(409);
        assertThat(registry.latestId("users-value")).contains(1);
    }

    @Test
    void shouldRejectAnUnsupportedContentTypeWith415() throws Exception {
        // When
        HttpResponse<String> response = http.send(
                HttpRequest.newBuilder(URI.create(registry.url() + "/subjects/users-value/versions"))
                        .header("Content-Type", "text/plain")
                        .POST(HttpRequest.BodyPublishers.ofString(body(USER_V1)))
                        .build(),
                HttpResponse.BodyHandlers.ofString());

        // Then
        assertThat(response.statusCode()).isEqualTo(415);
        assertThat(registry.subjects()).isEmpty();
    }

    @Test
    void shouldServeARegisteredSchemaRawOnApicuriosContentIdRouteWithNoReferences() throws Exception {
        // Given
        int id = json(register("users-value", USER_V1)).get("id").asInt();

        // When
        HttpResponse<String> content = get("/ids/contentIds/" + id);
        HttpResponse<String> prefixed = get("/apis/registry/v2/ids/contentIds/" + id);
        HttpResponse<String> references = get("/ids/contentIds/" + id + "/references");

        // Then
        assertThat(content.statusCode()).isEqualTo(200);
        assertThat(content.headers().firstValue("Content-Type")).contains("application/json");
        assertThat(json(content)).isEqualTo(JSON.readTree(USER_V1));
        assertThat(json(prefixed)).isEqualTo(JSON.readTree(USER_V1));
        assertThat(references.statusCode()).isEqualTo(200);
        assertThat(references.body()).isEqualTo("[]");
        assertThat(registry.contentByIdCalls()).isEqualTo(3);
        assertThat(get("/ids/contentIds/42").statusCode()).isEqualTo(404);
    }

    @Test
    void shouldResolveTheEmbeddedDefaultsFingerprintIdsOnBothRoutes() throws Exception {
        // Given the id an embedded run (no registry) writes AgentResult records with
        int id = FingerprintSchemaIds.idOf(AgentResult.getClassSchema());

        // When
        HttpResponse<String> confluent = get("/schemas/ids/" + id);
        HttpResponse<String> apicurio = get("/ids/contentIds/" + id);

        // Then
        assertThat(confluent.statusCode()).isEqualTo(200);
        assertThat(json(confluent).get("schema").asText())
                .isEqualTo(AgentResult.getClassSchema().toString());
        assertThat(apicurio.statusCode()).isEqualTo(200);
        assertThat(json(apicurio))
                .isEqualTo(JSON.readTree(AgentResult.getClassSchema().toString()));
    }

    @Test
    void shouldAnswer404And405ForOtherRequests() throws Exception {
        assertThat(get("/subjects").statusCode()).isEqualTo(404);
        assertThat(get("/subjects/users-value/versions").statusCode()).isEqualTo(405);
    }

    @Test
    void shouldGiveEachInstanceItsOwnUrl() {
        try (InProcessSchemaRegistry other = InProcessSchemaRegistry.start()) {
            assertThat(other.url()).isNotEqualTo(registry.url()).startsWith("http://127.0.0.1:");
        }
    }

    private HttpResponse<String> register(String subject, String schema) throws IOException, InterruptedException {
        return http.send(
                HttpRequest.newBuilder(URI.create(registry.url() + "/subjects/" + subject + "/versions"))
                        .header("Content-Type", InProcessSchemaRegistry.CONTENT_TYPE)
                        .POST(HttpRequest.BodyPublishers.ofString(body(schema)))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return http.send(
                HttpRequest.newBuilder(URI.create(registry.url() + path)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static String body(String schema) {
        return JSON.createObjectNode().put("schema", schema).toString();
    }

    private static JsonNode json(HttpResponse<String> response) throws IOException {
        return JSON.readTree(response.body());
    }
}
