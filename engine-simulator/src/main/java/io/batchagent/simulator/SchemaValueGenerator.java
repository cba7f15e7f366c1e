package io.batchagent.simulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Generates a deterministic JSON value that is valid against a JSON Schema: the scripted model's
 * answers and tool-call arguments.
 *
 * <p>Rules: {@code $ref} (local, {@code #...}) is followed; {@code allOf} is merged; {@code anyOf} /
 * {@code oneOf} take the first alternative that is not {@code null}; {@code const} wins, then
 * {@code enum} (the entry equal to the input field, ignoring case, else the first). Objects get
 * every property (only the required ones past depth 8), in schema order, plus required names the
 * schema does not describe (as strings), and extra properties up to {@code minProperties}. Arrays
 * get {@code max(1, minItems)} items, capped by {@code maxItems}, following {@code prefixItems} /
 * tuple {@code items}; items past the first get an index suffix so {@code uniqueItems} holds.
 * Strings are the input field of the same name (see {@link #fields}) when there is one, else the
 * schema {@code default}, else the fallback text; a known {@code format} (date-time, date, time,
 * email, uri, uuid, ipv4, ipv6, hostname) gets a fixed valid value; {@code minLength} pads with
 * dots and {@code maxLength} truncates, counting code points. Integers and numbers are the schema
 * {@code default} or 1, moved into {@code minimum}/{@code maximum} (inclusive or exclusive) and
 * onto {@code multipleOf}. Booleans are the schema {@code default} or false. {@code pattern},
 * {@code not}, {@code if}/{@code then}/{@code else}, {@code contains}, {@code patternProperties}
 * and {@code dependentRequired} are not honoured.
 *
 * <p>Thread-safety: an instance is immutable once built, so it is safe from any thread.
 */
final class SchemaValueGenerator {

    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;
    private static final Pattern FIELD_LINE =
            Pattern.compile("^\\s*([A-Za-z][A-Za-z0-9_ ]{0,63}?)\\s*:\\s*(\\S.*?)\\s*$");
    private static final int FULL_DEPTH = 8;
    private static final int MAX_DEPTH = 32;
    private static final int MAX_REF_HOPS = 32;

    private final JsonNode root;
    private final Map<String, String> fields;
    private final Function<String, String> fallbackText;

    /**
     * @param root the schema; {@code $ref}s resolve against it
     * @param fields normalised field name to value (see {@link #fields})
     * @param fallbackText text for a string that has no field, given the property name (or
     *     {@code "value"} outside any property)
     */
    SchemaValueGenerator(JsonNode root, Map<String, String> fields, Function<String, String> fallbackText) {
        this.root = root;
        this.fields = Map.copyOf(fields);
        this.fallbackText = fallbackText;
    }

    /** A value valid against the whole schema. */
    JsonNode generate() {
        return value(root, null, 0, 0, false);
    }

    /**
     * An object for a tool's {@code parameters} schema: at the top level only the required
     * properties, or all of them when none is required.
     */
    ObjectNode generateArguments() {
        JsonNode generated = value(root, null, 0, 0, true);
        return generated instanceof ObjectNode object ? object : JSON.objectNode();
    }

    /**
     * The {@code Name: value} lines of a message: one pair per line, the name a letter followed by
     * letters, digits, underscores or spaces, the value the rest of the line, trimmed. Names are
     * {@link #normalize normalised}; the first line with a name wins.
     */
    static Map<String, String> fields(String message) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String line : message.split("\\R")) {
            Matcher matcher = FIELD_LINE.matcher(line);
            if (matcher.matches()) {
                out.putIfAbsent(normalize(matcher.group(1)), matcher.group(2));
            }
        }
        return out;
    }

    /** Lower case, underscores as spaces, whitespace runs as one space, trimmed. */
    static String normalize(String name) {
        return name.replace('_', ' ').trim().replaceAll("\\s+", " ").toLowerCase(Locale.ROOT);
    }

    /** A short hex digest of {@code text}, stable across runs and JVMs. */
    static String shortHash(String text) {
        int hash = 0x811c9dc5;
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            hash ^= b & 0xff;
            hash *= 0x01000193;
        }
        return String.format("%08x", hash).substring(0, 6);
    }

    private JsonNode value(JsonNode schema, String name, int index, int depth, boolean requiredOnlyIfAny) {
        JsonNode resolved = resolve(schema);
        if (resolved == null || resolved.isBoolean()) {
            return resolved != null && !resolved.asBoolean()
                    ? JSON.nullNode()
                    : stringValue(JSON.objectNode(), name, index);
        }
        if (depth > MAX_DEPTH) {
            return JSON.nullNode();
        }
        if (resolved.has("const")) {
            return resolved.get("const").deepCopy();
        }
        JsonNode allOf = resolved.get("allOf");
        if (allOf != null && allOf.isArray() && !allOf.isEmpty()) {
            return value(mergeAllOf(resolved, allOf), name, index, depth + 1, requiredOnlyIfAny);
        }
        JsonNode enumValues = resolved.get("enum");
        if (enumValues != null && enumValues.isArray() && !enumValues.isEmpty()) {
            return chooseEnum(enumValues, name, index);
        }
        JsonNode alternative = firstAlternative(resolved);
        if (alternative != null) {
            return value(alternative, name, index, depth + 1, requiredOnlyIfAny);
        }
        switch (typeOf(resolved)) {
            case "object":
                return objectValue(resolved, index, depth, requiredOnlyIfAny);
            case "array":
                return arrayValue(resolved, name, depth);
            case "integer":
                return numberValue(resolved, index, true);
            case "number":
                return numberValue(resolved, index, false);
            case "boolean": {
                JsonNode fallback = resolved.get("default");
                return JSON.booleanNode(fallback != null && fallback.isBoolean() && fallback.asBoolean());
            }
            case "null":
                return JSON.nullNode();
            default:
                return stringValue(resolved, name, index);
        }
    }

    private JsonNode resolve(JsonNode schema) {
        JsonNode current = schema;
        for (int hop = 0; hop < MAX_REF_HOPS && current != null && current.has("$ref"); hop++) {
            String ref = current.get("$ref").asText();
            if (!ref.startsWith("#")) {
                return JSON.objectNode(); // remote references are not fetched
            }
            JsonNode target = ref.length() == 1 ? root : root.at(ref.substring(1));
            current = target.isMissingNode() ? JSON.objectNode() : target;
        }
        return current;
    }

    private ObjectNode mergeAllOf(JsonNode schema, JsonNode allOf) {
        ObjectNode merged = ((ObjectNode) schema).deepCopy();
        merged.remove("allOf");
        for (JsonNode part : allOf) {
            JsonNode sub = resolve(part);
            if (sub == null || !sub.isObject()) {
                continue;
            }
            for (Map.Entry<String, JsonNode> entry : sub.properties()) {
                JsonNode existing = merged.get(entry.getKey());
                if (entry.getKey().equals("properties")
                        && existing instanceof ObjectNode properties
                        && entry.getValue().isObject()) {
                    entry.getValue().properties().forEach(p -> properties.putIfAbsent(p.getKey(), p.getValue()));
                } else if (entry.getKey().equals("required")
                        && existing instanceof ArrayNode required
                        && entry.getValue().isArray()) {
                    Set<String> names = new LinkedHashSet<>();
                    required.forEach(n -> names.add(n.asText()));
                    entry.getValue().forEach(n -> names.add(n.asText()));
                    required.removeAll();
                    names.forEach(required::add);
                } else if (existing == null) {
                    merged.set(entry.getKey(), entry.getValue());
                }
            }
        }
        return merged;
    }

    private static JsonNode firstAlternative(JsonNode schema) {
        for (String keyword : new String[] {"anyOf", "oneOf"}) {
            JsonNode alternatives = schema.get(keyword);
            if (alternatives != null && alternatives.isArray() && !alternatives.isEmpty()) {
                for (JsonNode alternative : alternatives) {
                    JsonNode type = alternative.get("type");
                    if (type == null || !type.asText().equals("null")) {
                        return alternative;
                    }
                }
                return alternatives.get(0);
            }
        }
        return null;
    }

    private static String typeOf(JsonNode schema) {
        JsonNode type = schema.get("type");
        if (type != null && type.isTextual()) {
            return type.asText();
        }
        if (type != null && type.isArray() && !type.isEmpty()) {
            for (JsonNode candidate : type) {
                if (!candidate.asText().equals("null")) {
                    return candidate.asText();
                }
            }
            return "null";
        }
        if (schema.has("properties") || schema.has("required") || schema.has("additionalProperties")) {
            return "object";
        }
        if (schema.has("items") || schema.has("prefixItems")) {
            return "array";
        }
        if (schema.has("minimum") || schema.has("maximum") || schema.has("multipleOf")) {
            return "number";
        }
        return "string";
    }

    private JsonNode chooseEnum(JsonNode values, String name, int index) {
        String field = name == null ? null : fields.get(normalize(name));
        if (field != null) {
            for (JsonNode candidate : values) {
                if (candidate.isTextual() && candidate.asText().equalsIgnoreCase(field)) {
                    return candidate.deepCopy();
                }
            }
        }
        return values.get(index % values.size()).deepCopy();
    }

    private ObjectNode objectValue(JsonNode schema, int index, int depth, boolean requiredOnlyIfAny) {
        JsonNode properties = schema.path("properties");
        Set<String> required = new LinkedHashSet<>();
        schema.path("required").forEach(n -> required.add(n.asText()));
        boolean requiredOnly = (requiredOnlyIfAny && !required.isEmpty()) || depth >= FULL_DEPTH;

        List<String> names = new ArrayList<>();
        properties.fieldNames().forEachRemaining(n -> {
            if (!requiredOnly || required.contains(n)) {
                names.add(n);
            }
        });
        required.stream().filter(n -> !names.contains(n)).forEach(names::add);
        JsonNode maxProperties = schema.get("maxProperties");
        if (maxProperties != null && maxProperties.canConvertToInt()) {
            for (int i = names.size() - 1; i >= 0 && names.size() > maxProperties.asInt(); i--) {
                if (!required.contains(names.get(i))) {
                    names.remove(i);
                }
            }
        }

        ObjectNode out = JSON.objectNode();
        for (String name : names) {
            JsonNode propertySchema = properties.has(name) ? properties.get(name) : JSON.objectNode();
            out.set(name, value(propertySchema, name, index, depth + 1, false));
        }
        JsonNode minProperties = schema.get("minProperties");
        JsonNode additional = schema.get("additionalProperties");
        if (minProperties != null && (additional == null || !additional.isBoolean() || additional.asBoolean())) {
            JsonNode extraSchema = additional != null && additional.isObject() ? additional : JSON.objectNode();
            for (int i = 1; out.size() < minProperties.asInt(); i++) {
                String name = "extra_" + i;
                if (!out.has(name)) {
                    out.set(name, value(extraSchema, name, index, depth + 1, false));
                }
            }
        }
        return out;
    }

    private ArrayNode arrayValue(JsonNode schema, String name, int depth) {
        JsonNode tuple = schema.has("prefixItems")
                ? schema.get("prefixItems")
                : schema.path("items").isArray() ? schema.get("items") : null;
        JsonNode rest = tuple == null
                ? schema.get("items")
                : schema.has("prefixItems") ? schema.get("items") : schema.get("additionalItems");
        int minItems = schema.path("minItems").asInt(0);
        int count = depth >= FULL_DEPTH ? minItems : Math.max(1, minItems);
        if (schema.has("maxItems")) {
            count = Math.min(count, schema.get("maxItems").asInt());
        }
        boolean restForbidden = rest != null && rest.isBoolean() && !rest.asBoolean();
        if (tuple != null && restForbidden) {
            count = Math.min(count, tuple.size());
        }
        ArrayNode out = JSON.arrayNode();
        for (int i = 0; i < count; i++) {
            JsonNode itemSchema = tuple != null && i < tuple.size()
                    ? tuple.get(i)
                    : rest != null && !rest.isBoolean() ? rest : JSON.objectNode();
            out.add(value(itemSchema, name, i, depth + 1, false));
        }
        return out;
    }

    private static JsonNode numberValue(JsonNode schema, int index, boolean integer) {
        JsonNode fallback = schema.get("default");
        double value = (fallback != null && fallback.isNumber() ? fallback.asDouble() : 1) + index;
        double low = Double.NEGATIVE_INFINITY;
        double high = Double.POSITIVE_INFINITY;
        boolean lowStrict = false;
        boolean highStrict = false;
        if (schema.path("minimum").isNumber()) {
            low = schema.get("minimum").asDouble();
            lowStrict = schema.path("exclusiveMinimum").asBoolean(false); // draft 4 form
        }
        if (schema.path("maximum").isNumber()) {
            high = schema.get("maximum").asDouble();
            highStrict = schema.path("exclusiveMaximum").asBoolean(false);
        }
        if (schema.path("exclusiveMinimum").isNumber()
                && schema.get("exclusiveMinimum").asDouble() >= low) {
            low = schema.get("exclusiveMinimum").asDouble();
            lowStrict = true;
        }
        if (schema.path("exclusiveMaximum").isNumber()
                && schema.get("exclusiveMaximum").asDouble() <= high) {
            high = schema.get("exclusiveMaximum").asDouble();
            highStrict = true;
        }
        if (integer) {
            low = lowStrict ? Math.floor(low) + 1 : Math.ceil(low);
            high = highStrict ? Math.ceil(high) - 1 : Math.floor(high);
            lowStrict = false;
            highStrict = false;
            value = Math.floor(value);
        }
        if (value < low || (lowStrict && value <= low)) {
            value = lowStrict ? (Double.isInfinite(high) ? low + 1 : (low + high) / 2) : low;
        }
        if (value > high || (highStrict && value >= high)) {
            value = highStrict ? (Double.isInfinite(low) ? high - 1 : (low + high) / 2) : high;
        }
        double multipleOf = schema.path("multipleOf").asDouble(0);
        if (multipleOf > 0) {
            double snapped = Math.ceil(value / multipleOf) * multipleOf;
            value = snapped > high || (highStrict && snapped >= high)
                    ? Math.floor(value / multipleOf) * multipleOf
                    : snapped;
        }
        if (value == Math.rint(value) && Math.abs(value) < 1e15) {
            return JSON.numberNode((long) value);
        }
        return JSON.numberNode(value);
    }

    private JsonNode stringValue(JsonNode schema, String name, int index) {
        String format = schema.path("format").asText("");
        String text = formatValue(format, index);
        if (text == null) {
            String field = name == null ? null : fields.get(normalize(name));
            JsonNode fallback = schema.get("default");
            if (field != null) {
                text = field;
            } else if (fallback != null && fallback.isTextual()) {
                text = fallback.asText();
            } else {
                text = fallbackText.apply(name == null ? "value" : name);
            }
            if (index > 0) {
                text = text + " " + (index + 1);
            }
        }
        int minLength = schema.path("minLength").asInt(0);
        int length = text.codePointCount(0, text.length());
        if (length < minLength) {
            text = text + ".".repeat(minLength - length);
        }
        if (schema.has("maxLength")) {
            int maxLength = Math.max(0, schema.get("maxLength").asInt());
            if (text.codePointCount(0, text.length()) > maxLength) {
                text = text.substring(0, text.offsetByCodePoints(0, maxLength));
            }
        }
        return JSON.textNode(text);
    }

    private static String formatValue(String format, int index) {
        switch (format) {
            case "date-time":
                return String.format("2025-01-%02dT00:00:00Z", 1 + index % 28);
            case "date":
                return String.format("2025-01-%02d", 1 + index % 28);
            case "time":
                return String.format("00:00:%02dZ", index % 60);
            case "email":
                return "sim" + (index == 0 ? "" : index) + "@example.com";
            case "uri":
            case "url":
            case "iri":
            case "uri-reference":
                return "https://example.com/sim/" + index;
            case "uuid":
                return String.format("00000000-0000-4000-8000-%012d", index);
            case "ipv4":
                return "127.0.0." + (1 + index % 254);
            case "ipv6":
                return "::" + Integer.toHexString(1 + index);
            case "hostname":
                return "sim" + index + ".example.com";
            default:
                return null;
        }
    }
}
