package io.batchagent.inference;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.ToolCallRef;
import io.batchagent.events.ToolSpec;
import io.batchagent.schemas.CallHash;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Locale;

/**
 * The part of a chat completions request that every agent of a batch shares, rendered once from its
 * {@link BatchSpec}, and the renderer of whole request bodies around it.
 *
 * <p>Body layout, in this field order (DESIGN invariant 3):
 * <pre>
 * {"model":..,"stream":true,"stream_options":{"include_usage":true},"max_tokens":..,"temperature":..,
 *  "tools":[..] (omitted when the batch declares none), "tool_choice":"auto" (when the shape asks),
 *  "response_format":{..} (when the shape asks and the batch has an output schema and no tools),
 *  "messages":[{"role":"system","content":..}, per-agent messages..],
 *  per-call fields (priority, nvext, prompt_cache_key: see {@link OpenAiDialect})}
 * </pre>
 * A {@link Shape} varies what an engine needs ({@code stream} false and no {@code stream_options} for a
 * warm-up, {@code max_completion_tokens} for the OpenAI API); within one shape, nothing per-agent comes
 * before the per-agent messages, so every agent's body starts with the same {@link #prefixLength()}
 * bytes. The system content is the system prompt, then, when the batch has an
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

    private static final JsonFactory JSON_FACTORY =
            JsonFactory.builder().disable(StreamWriteFeature.AUTO_CLOSE_CONTENT).build();
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    /**
     * What an engine dialect varies in the shared part.
     *
     * @param stream whether the call streams; {@code stream_options.include_usage} is sent exactly when it
     *     does (vLLM rejects stream_options on a call that does not stream)
     * @param maxTokensField {@code max_tokens}, or {@code max_completion_tokens} (the OpenAI API)
     * @param maxTokens the output token limit, or null for the batch's max_tokens
     * @param toolChoiceAuto whether to send {@code "tool_choice":"auto"} when the batch declares tools
     * @param responseFormat whether to constrain the final answer with {@code response_format}
     *     {@code json_schema} when the batch has an output schema and declares no tools (a response
     *     constraint and a tool constraint never go in one request)
     */
    record Shape(
            boolean stream, String maxTokensField, Integer maxTokens, boolean toolChoiceAuto, boolean responseFormat) {

        /** The layout of the original OpenAI-compatible client: streamed, max_tokens, nothing else. */
        static final Shape DEFAULT = new Shape(true, "max_tokens", null, false, false);
    }

    /** Names the output schema in {@code response_format}; vLLM requires a name. */
    static final String RESPONSE_FORMAT_NAME = "final_answer";

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
        return of(spec, Shape.DEFAULT);
    }

    /** Renders the shared prefix of a batch in {@code shape}; see {@link #of(BatchSpec)}. */
    static SharedPrefix of(BatchSpec spec, Shape shape) {
        String batchId = spec.getBatchId();
        String systemContent = systemContent(spec);
        ByteArrayOutputStream out = new ByteArrayOutputStream(1024 + systemContent.length());
        try (JsonGenerator json = JSON_FACTORY.createGenerator(out)) {
            json.writeStartObject();
            json.writeStringField("model", spec.getModel());
            json.writeBooleanField("stream", shape.stream());
            if (shape.stream()) {
                json.writeObjectFieldStart("stream_options");
                json.writeBooleanField("include_usage", true);
                json.writeEndObject();
            }
            json.writeNumberField(
                    shape.maxTokensField(), shape.maxTokens() == null ? spec.getMaxTokens() : shape.maxTokens());
            json.writeNumberField("temperature", spec.getTemperature());
            if (!spec.getTools().isEmpty()) {
                json.writeArrayFieldStart("tools");
                for (ToolSpec tool : spec.getTools()) {
                    writeTool(json, batchId, tool);
                }
                json.writeEndArray();
                if (shape.toolChoiceAuto()) {
                    json.writeStringField("tool_choice", "auto");
                }
            } else if (shape.responseFormat() && spec.getOutputSchemaJson() != null) {
                json.writeObjectFieldStart("response_format");
                json.writeStringField("type", "json_schema");
                json.writeObjectFieldStart("json_schema");
                json.writeStringField("name", RESPONSE_FORMAT_NAME);
                json.writeFieldName("schema");
                json.writeRawValue(
                        canonicalObject(spec.getOutputSchemaJson(), "batch '" + batchId + "': outputSchemaJson"));
                json.writeEndObject();
                json.writeEndObject();
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
        return render(messages, null);
    }

    /**
     * Renders a whole request body as {@link #render(List)} does, then the fields of {@code perCall} (in
     * their order) after the messages, where they cannot break the shared prefix.
     *
     * @param perCall per-call top-level fields, or null (or empty) for none
     */
    byte[] render(List<ChatMessage> messages, ObjectNode perCall) {
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
        if (perCall != null && !perCall.isEmpty()) {
            byte[] fields;
            try {
                fields = JSON.writeValueAsBytes(perCall);
            } catch (JsonProcessingException e) {
                throw new UncheckedIOException("cannot render per-call fields for batch '" + batchId + "'", e);
            }
            // {"a":1,"b":2} -> ,"a":1,"b":2
            out.write(',');
            out.write(fields, 1, fields.length - 2);
        }
        out.write('}');
        return out.toByteArray();
    }

    /** The system message's content of a batch: its system prompt, then the output-schema instruction. */
    static String systemContent(BatchSpec spec) {
        String system = spec.getSystemPrompt() == null ? "" : spec.getSystemPrompt();
        if (spec.getOutputSchemaJson() == null) {
            return system;
        }
        String schema =
                canonicalObject(spec.getOutputSchemaJson(), "batch '" + spec.getBatchId() + "': outputSchemaJson");
        return system + SCHEMA_INSTRUCTION + schema + "\n```";
    }

    private static void writeTool(JsonGenerator json, String batchId, ToolSpec tool) throws IOException {
        String parameters = canonicalObject(
                tool.getParametersJson(), "batch '" + batchId + "': parametersJson of tool '" + tool.getName() + "'");
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
    static String canonicalObject(String text, String what) {
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
