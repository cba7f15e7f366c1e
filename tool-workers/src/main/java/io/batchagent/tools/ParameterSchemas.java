package io.batchagent.tools;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.SpecVersionDetector;
import com.networknt.schema.ValidationMessage;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Compiles tool parameter schemas (JSON Schema, draft 2020-12 unless the schema's {@code $schema}
 * names another) and validates call arguments against them, with messages a model can act on.
 *
 * <p>A schema may not load anything from the network or the file system: a {@code $ref} to an
 * {@code http}, {@code https} or {@code file} address is refused, so a batch cannot make a worker
 * fetch URLs. Compiled schemas are kept (at most {@value #MAX_SCHEMAS}). Thread-safe.
 */
final class ParameterSchemas {

    static final int MAX_SCHEMAS = 1_000;
    /** The most validation messages reported back to the model for one call. */
    static final int MAX_PROBLEMS = 10;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<SpecVersion.VersionFlag, JsonSchemaFactory> FACTORIES = new ConcurrentHashMap<>();

    private final Cache<String, JsonSchema> compiled =
            Caffeine.newBuilder().maximumSize(MAX_SCHEMAS).build();

    /**
     * The problems with {@code arguments} under {@code schemaJson}, sorted; empty when they conform.
     *
     * @throws IllegalArgumentException if the schema itself is not usable
     */
    List<String> problems(String schemaJson, JsonNode arguments) {
        JsonSchema schema = compiled.get(schemaJson, ParameterSchemas::compile);
        Set<ValidationMessage> messages = schema.validate(arguments);
        return messages.stream()
                .map(ValidationMessage::getMessage)
                .sorted(Comparator.naturalOrder())
                .limit(MAX_PROBLEMS)
                .toList();
    }

    /**
     * Compiles a parameter schema, loading nothing from outside.
     *
     * @throws IllegalArgumentException if it is not JSON, not an object, or not a usable JSON Schema
     */
    static JsonSchema compile(String schemaJson) {
        JsonNode node;
        try {
            node = JSON.readTree(schemaJson);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException("a parameters schema must be a JSON object");
        }
        SpecVersion.VersionFlag version =
                SpecVersionDetector.detectOptionalVersion(node, false).orElse(SpecVersion.VersionFlag.V202012);
        JsonSchemaFactory factory = FACTORIES.computeIfAbsent(
                version,
                v -> JsonSchemaFactory.getInstance(
                        v,
                        builder -> builder.schemaLoaders(loaders -> loaders.add(iri -> {
                            String scheme = iri.getScheme() == null
                                    ? ""
                                    : iri.getScheme().toLowerCase(Locale.ROOT);
                            if (scheme.equals("http")
                                    || scheme.equals("https")
                                    || scheme.equals("file")
                                    || scheme.equals("jar")
                                    || scheme.equals("ftp")) {
                                throw new IllegalArgumentException("the schema refers to " + iri
                                        + "; parameter schemas may only use local references (#/...)");
                            }
                            return null;
                        }))));
        List<String> problems;
        try {
            problems = metaSchema(factory, version).validate(node).stream()
                    .map(ValidationMessage::getMessage)
                    .sorted()
                    .limit(MAX_PROBLEMS)
                    .toList();
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("not a usable JSON Schema: " + e.getMessage(), e);
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("not a usable JSON Schema: " + String.join("; ", problems));
        }
        try {
            JsonSchema schema = factory.getSchema(node);
            schema.initializeValidators(); // now, so that a broken schema fails here and not on a call
            return schema;
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("not a usable JSON Schema: " + e.getMessage(), e);
        }
    }

    /** The meta-schema of {@code version}, from the validator's bundled copies (never the network). */
    private static JsonSchema metaSchema(JsonSchemaFactory factory, SpecVersion.VersionFlag version) {
        return factory.getSchema(SchemaLocation.of(version.getId()));
    }
}
