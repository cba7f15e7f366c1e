package io.batchagent.inference;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.ToolCallRef;
import io.batchagent.events.ToolSpec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Renders an {@link AgentPrompt} as an Anthropic Messages API request ({@code POST /v1/messages}).
 *
 * <p>Layout, in this field order, everything before {@code messages} shared by the batch's agents and
 * rendered once per batch:
 * <pre>
 * {"model":..,"max_tokens":..,"temperature":..,"stream":true,
 *  "tools":[{"name","description","input_schema"}.., the last with "cache_control":{"type":"ephemeral"}],
 *  "system":[{"type":"text","text":..,"cache_control":{"type":"ephemeral"}}],
 *  "messages":[..]}
 * </pre>
 * Anthropic caches prompts in the order tools, system, messages; the two {@code cache_control}
 * breakpoints close the shared prefix, so every agent of the batch reads the tools and the system prompt
 * from the cache. A batch without tools has only the system breakpoint; one without a system prompt only
 * the tools breakpoint.
 *
 * <p>Messages: a USER message becomes a user text block; an ASSISTANT message an assistant message with
 * its text (if any) and one {@code tool_use} block per call ({@code input} is the parsed arguments; an
 * argument text that is not a JSON object is kept as {@code {"invalid_arguments": text}}, since the API
 * requires an object); each TOOL message a {@code tool_result} block whose {@code tool_use_id} is the call
 * id. Consecutive messages of one role are merged into one message, so the results of parallel calls
 * form one user message right after the assistant message that asked for them, as the API requires. A
 * warm-up sends one user message, {@value #WARM_UP_TEXT}, since the API needs one.
 *
 * <p>Stateless and thread-safe.
 */
final class AnthropicMessages {

    static final String WARM_UP_TEXT = ".";
    private static final JsonFactory JSON_FACTORY =
            JsonFactory.builder().disable(StreamWriteFeature.AUTO_CLOSE_CONTENT).build();
    private static final ObjectMapper JSON = new ObjectMapper();

    private AnthropicMessages() {}

    /** The whole request body. */
    static byte[] render(AgentPrompt prompt) {
        byte[] prefix = prompt.batch().rendering(new PrefixKey(prompt.isWarmUp()), () -> prefix(prompt));
        ByteArrayOutputStream out = new ByteArrayOutputStream(
                prefix.length + 512 * (prompt.messages().size() + 1));
        out.write(prefix, 0, prefix.length);
        ArrayNode messages = messages(prompt.isWarmUp() ? List.of() : prompt.messages());
        if (messages.isEmpty()) {
            messages.addObject()
                    .put("role", "user")
                    .putArray("content")
                    .addObject()
                    .put("type", "text")
                    .put("text", WARM_UP_TEXT);
        }
        try {
            byte[] rendered = JSON.writeValueAsBytes(messages);
            // [..] -> .. : the prefix opened the array.
            out.write(rendered, 1, rendered.length - 2);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot render messages for batch '" + prompt.batchId() + "'", e);
        }
        out.write(']');
        out.write('}');
        return out.toByteArray();
    }

    /** Everything up to and including {@code "messages":[}. */
    private static byte[] prefix(AgentPrompt prompt) {
        BatchSpec spec = prompt.spec();
        String batchId = spec.getBatchId();
        String system = SharedPrefix.systemContent(spec);
        ByteArrayOutputStream out = new ByteArrayOutputStream(1024 + system.length());
        try (JsonGenerator json = JSON_FACTORY.createGenerator(out)) {
            json.writeStartObject();
            json.writeStringField("model", spec.getModel());
            json.writeNumberField("max_tokens", prompt.maxTokens());
            json.writeNumberField("temperature", spec.getTemperature());
            json.writeBooleanField("stream", prompt.stream());
            List<ToolSpec> tools = spec.getTools();
            if (!tools.isEmpty()) {
                json.writeArrayFieldStart("tools");
                for (int i = 0; i < tools.size(); i++) {
                    ToolSpec tool = tools.get(i);
                    json.writeStartObject();
                    json.writeStringField("name", tool.getName());
                    json.writeStringField("description", tool.getDescription() == null ? "" : tool.getDescription());
                    json.writeFieldName("input_schema");
                    json.writeRawValue(SharedPrefix.canonicalObject(
                            tool.getParametersJson(),
                            "batch '" + batchId + "': parametersJson of tool '" + tool.getName() + "'"));
                    if (i == tools.size() - 1) {
                        writeCacheControl(json);
                    }
                    json.writeEndObject();
                }
                json.writeEndArray();
            }
            if (!system.isEmpty()) {
                json.writeArrayFieldStart("system");
                json.writeStartObject();
                json.writeStringField("type", "text");
                json.writeStringField("text", system);
                writeCacheControl(json);
                json.writeEndObject();
                json.writeEndArray();
            }
            json.writeArrayFieldStart("messages");
            // Left open: the messages follow.
        } catch (IOException e) {
            throw new UncheckedIOException("cannot render the shared prefix of batch '" + batchId + "'", e);
        }
        return out.toByteArray();
    }

    private static void writeCacheControl(JsonGenerator json) throws IOException {
        json.writeObjectFieldStart("cache_control");
        json.writeStringField("type", "ephemeral");
        json.writeEndObject();
    }

    /** The conversation as Anthropic messages, consecutive roles merged. */
    static ArrayNode messages(List<ChatMessage> history) {
        ArrayNode messages = JSON.createArrayNode();
        String currentRole = null;
        ArrayNode content = null;
        for (ChatMessage message : history) {
            String role = switch (message.getRole()) {
                case USER, TOOL -> "user";
                case ASSISTANT -> "assistant";
            };
            List<ObjectNode> blocks = blocks(message);
            if (blocks.isEmpty()) {
                continue;
            }
            if (!role.equals(currentRole)) {
                ObjectNode next = messages.addObject();
                next.put("role", role);
                content = next.putArray("content");
                currentRole = role;
            }
            content.addAll(blocks);
        }
        return messages;
    }

    private static List<ObjectNode> blocks(ChatMessage message) {
        List<ObjectNode> blocks = new ArrayList<>();
        switch (message.getRole()) {
            case USER -> {
                String text = message.getContent() == null ? "" : message.getContent();
                blocks.add(text(text.isEmpty() ? WARM_UP_TEXT : text));
            }
            case ASSISTANT -> {
                if (message.getContent() != null && !message.getContent().isBlank()) {
                    blocks.add(text(message.getContent()));
                }
                for (ToolCallRef call : message.getToolCalls()) {
                    ObjectNode use = JSON.createObjectNode();
                    use.put("type", "tool_use");
                    use.put("id", call.getId());
                    use.put("name", call.getName());
                    use.set("input", input(call.getArgumentsJson()));
                    blocks.add(use);
                }
                if (blocks.isEmpty()) {
                    // The API refuses an empty assistant message; an answer with nothing in it is still a turn.
                    blocks.add(text("(no answer)"));
                }
            }
            case TOOL -> {
                ObjectNode result = JSON.createObjectNode();
                result.put("type", "tool_result");
                result.put("tool_use_id", message.getToolCallId() == null ? "" : message.getToolCallId());
                result.put("content", message.getContent() == null ? "" : message.getContent());
                blocks.add(result);
            }
        }
        return blocks;
    }

    private static ObjectNode text(String text) {
        ObjectNode block = JSON.createObjectNode();
        block.put("type", "text");
        block.put("text", text);
        return block;
    }

    /** A tool call's arguments as the object the API requires. */
    static ObjectNode input(String arguments) {
        if (arguments == null || arguments.isBlank()) {
            return JSON.createObjectNode();
        }
        try {
            JsonNode node = JSON.readTree(arguments);
            if (node != null && node.isObject()) {
                return (ObjectNode) node;
            }
        } catch (IOException e) {
            // Kept as text below.
        }
        ObjectNode kept = JSON.createObjectNode();
        kept.put("invalid_arguments", arguments);
        return kept;
    }

    /** Identifies the rendering of a batch's shared part for agents or for its warm-up. */
    private record PrefixKey(boolean warmUp) {}
}
