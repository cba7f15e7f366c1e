package io.batchagent.inference;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.ToolCallRef;
import io.batchagent.events.ToolSpec;
import io.batchagent.schemas.CallHash;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Locale;
import java.util.List;

/**
 * The part of a chat completions request that every agent of a batch shares, rendered once from its
 * {@link BatchSpec}, and the renderer of whole request bodies around it.
 *
 * <p>Body layout, in this field order (DESIGN invariant 3):
 * <pre>
 * {"model":..,"stream":true,"stream_options":{"include_usage":true},"max_tokens":..,"temperature":..,
 *  "tools":[..] (omitted when the batch declares none),
 *  "messages":[{"role":"system","content":..}, per-agent messages..]}
 * </pre>
 * Nothing per-agent comes before the per-agent messages, so every agent's body starts with the same
 * {@link #prefixLength()} bytes. The system content is the system prompt, then, when the batch has an
 * output schema, {@link #SCHEMA_INSTRUCTION} followed by the schema in RFC 8785 canonical form in a
 * {@code json} fence. Tools keep their declared order and their parameter schemas are canonicalised,
 * so neither input key order nor whitespace changes a byte.
 *
 * <p>Immutable and thread-safe.
 */
public final class SharedPrefix {

    /** Introduces the output schema in the system message; the engine simulator looks for this text. */
    public static final String SCHEMA_INSTRUCTION =
            "\n\nYour final answer must be one JSON object that is valid against this JSON Schema:\n```json\n";

    private static final JsonFactory JSON_FACTORY = JsonFactory.builder()
            .disable(StreamWriteFeature.AUTO_CLOSE_CONTENT)
            .build();
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final String batchId;
    private final String systemContent;
    private final byte[] prefix;

    private SharedPrefix(String batchId, String systemContent, byte[] prefix) {
        this.batchId = batchId;
        this.systemContent = systemContent;
        this.prefix = prefix;
    }

    /**
     * Renders the shared prefix of a batch.
     *
     * @throws IllegalArgumentException if a tool's parametersJson or the output schema is not a JSON
     *     object; the message names the batch and the offending part
     */
    public static SharedPrefix of(BatchSpec spec) {
        String batchId = spec.getBatchId();
        String systemContent = systemContent(spec);
        ByteArrayOutputStream out = new ByteArrayOutputStream(1024 + systemContent.length());
        try (JsonGenerator json = JSON_FACTORY.createGenerator(out)) {
            json.writeStartObject();
            json.writeStringField("model", spec.getModel());
            json.writeBooleanField("stream", true);
            json.writeObjectFieldStart("stream_options");
            json.writeBooleanField("include_usage", true);
            json.writeEndObject();
            json.writeNumberField("max_tokens", spec.getMaxTokens());
            json.writeNumberField("temperature", spec.getTemperature());
            if (!spec.getTools().isEmpty()) {
                json.writeArrayFieldStart("tools");
                for (ToolSpec tool : spec.getTools()) {
                    writeTool(json, batchId, tool);
                }
                json.writeEndArray();
            }
            json.writeArrayFieldStart("messages");
            json.writeStartObject();
            json.writeStringField("role", "system");
            json.writeStringField("content", systemContent);
            json.writeEndObject();
            // Left open: the per-agent messages follow.
        } catch (IOException e) {
            throw new UncheckedIOException("cannot render the shared prefix of batch '" + batchId + "'", e);
        }
        out.write(',');
        return new SharedPrefix(batchId, systemContent, out.toByteArray());
    }

    public String batchId() {
        return batchId;
    }

    /** The system message's content: system prompt plus schema instruction. */
    public String systemContent() {
        return systemContent;
    }

    /**
     * Bytes every body of this batch starts with: everything up to and including the system message
     * and the comma after it.
     */
    public int prefixLength() {
        return prefix.length;
    }

    /** A copy of the shared prefix bytes. */
    public byte[] prefixBytes() {
        return prefix.clone();
    }

    /**
     * Renders a whole request body: the shared prefix, then the agent's messages.
     *
     * <p>USER becomes {@code {"role":"user","content"}}; ASSISTANT becomes
     * {@code {"role":"assistant","content","tool_calls"}} (content may be null, tool_calls omitted when
     * empty); TOOL becomes {@code {"role":"tool","tool_call_id","content"}}.
     */
    public byte[] render(List<ChatMessage> messages) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(prefix.length + 256 * (messages.size() + 1));
        try {
            // The prefix ends with the comma after the system message; with no agent message it must go.
            out.write(prefix, 0, messages.isEmpty() ? prefix.length - 1 : prefix.length);
            for (int i = 0; i < messages.size(); i++) {
                if (i > 0) {
                    out.write(',');
                }
                try (JsonGenerator json = JSON_FACTORY.createGenerator(out)) {
                    writeMessage(json, messages.get(i));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot render messages for batch '" + batchId + "'", e);
        }
        out.write(']');
        out.write('}');
        return out.toByteArray();
    }

    private static String systemContent(BatchSpec spec) {
        String system = spec.getSystemPrompt() == null ? "" : spec.getSystemPrompt();
        if (spec.getOutputSchemaJson() == null) {
            return system;
        }
        String schema = canonicalObject(spec.getOutputSchemaJson(),
                "batch '" + spec.getBatchId() + "': outputSchemaJson");
        return system + SCHEMA_INSTRUCTION + schema + "\n```";
    }

    private static void writeTool(JsonGenerator json, String batchId, ToolSpec tool) throws IOException {
        String parameters = canonicalObject(tool.getParametersJson(),
                "batch '" + batchId + "': parametersJson of tool '" + tool.getName() + "'");
        json.writeStartObject();
        json.writeStringField("type", "function");
        json.writeObjectFieldStart("function");
        json.writeStringField("name", tool.getName());
        json.writeStringField("description", tool.getDescription() == null ? "" : tool.getDescription());
        json.writeFieldName("parameters");
        json.writeRawValue(parameters);
        json.writeEndObject();
        json.writeEndObject();
    }

    private static void writeMessage(JsonGenerator json, ChatMessage message) throws IOException {
        json.writeStartObject();
        switch (message.getRole()) {
            case USER -> {
                json.writeStringField("role", "user");
                json.writeStringField("content", nullToEmpty(message.getContent()));
            }
            case ASSISTANT -> {
                json.writeStringField("role", "assistant");
                json.writeStringField("content", message.getContent());
                if (!message.getToolCalls().isEmpty()) {
                    json.writeArrayFieldStart("tool_calls");
                    for (ToolCallRef call : message.getToolCalls()) {
                        json.writeStartObject();
                        json.writeStringField("id", call.getId());
                        json.writeStringField("type", "function");
                        json.writeObjectFieldStart("function");
                        json.writeStringField("name", call.getName());
                        json.writeStringField("arguments", call.getArgumentsJson());
                        json.writeEndObject();
                        json.writeEndObject();
                    }
                    json.writeEndArray();
                }
            }
            case TOOL -> {
                json.writeStringField("role", "tool");
                json.writeStringField("tool_call_id", nullToEmpty(message.getToolCallId()));
                json.writeStringField("content", nullToEmpty(message.getContent()));
            }
        }
        json.writeEndObject();
    }

    /** The RFC 8785 form of a JSON object, or an IllegalArgumentException naming {@code what}. */
    private static String canonicalObject(String text, String what) {
        JsonNode node;
        try {
            node = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(what + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException(what + " must be a JSON object, got "
                    + (node == null ? "nothing" : node.getNodeType().toString().toLowerCase(Locale.ROOT)));
        }
        return CallHash.canonicalJson(text);
    }

    private static String nullToEmpty(String text) {
        return text == null ? "" : text;
    }
}
