package io.batchagent.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import software.amazon.awssdk.core.SdkNumber;
import software.amazon.awssdk.core.document.Document;

/** Conversions between Jackson JSON trees and the AWS SDK's {@link Document}, keeping key order. Stateless. */
final class JsonDocuments {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private JsonDocuments() {}

    /** JSON text (an object) as a Document. */
    static Document fromJson(String json) {
        try {
            return fromNode(JSON.readTree(json));
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("not JSON: " + EngineMessages.excerpt(json), e);
        }
    }

    static Document fromNode(JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return Document.fromNull();
        }
        if (node.isObject()) {
            Map<String, Document> map = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> field : node.properties()) {
                map.put(field.getKey(), fromNode(field.getValue()));
            }
            return Document.fromMap(map);
        }
        if (node.isArray()) {
            List<Document> list = new ArrayList<>(node.size());
            node.forEach(item -> list.add(fromNode(item)));
            return Document.fromList(list);
        }
        if (node.isBoolean()) {
            return Document.fromBoolean(node.booleanValue());
        }
        if (node.isIntegralNumber()) {
            return Document.fromNumber(SdkNumber.fromBigInteger(node.bigIntegerValue()));
        }
        if (node.isNumber()) {
            return Document.fromNumber(SdkNumber.fromBigDecimal(node.decimalValue()));
        }
        return Document.fromString(node.asText());
    }

    /** A Document as a JSON tree. */
    static JsonNode toNode(Document document) {
        if (document == null || document.isNull()) {
            return NODES.nullNode();
        }
        if (document.isMap()) {
            ObjectNode object = NODES.objectNode();
            document.asMap().forEach((key, value) -> object.set(key, toNode(value)));
            return object;
        }
        if (document.isList()) {
            ArrayNode array = NODES.arrayNode();
            document.asList().forEach(item -> array.add(toNode(item)));
            return array;
        }
        if (document.isBoolean()) {
            return NODES.booleanNode(document.asBoolean());
        }
        if (document.isNumber()) {
            return NODES.numberNode(document.asNumber().bigDecimalValue());
        }
        return NODES.textNode(document.asString());
    }

    /** A Document as compact JSON text. */
    static String toJson(Document document) {
        return toNode(document).toString();
    }
}
