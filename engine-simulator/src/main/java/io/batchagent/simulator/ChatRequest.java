package io.batchagent.simulator;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * A parsed, validated {@code POST /v1/chat/completions} body. Only what the simulator uses is
 * read; other fields (temperature, seed, ...) are accepted and ignored.
 */
final class ChatRequest {

    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");

    enum ToolChoice {
        AUTO,
        NONE,
        REQUIRED,
        NAMED
    }

    private final String model;
    private final List<ChatMessage> messages;
    private final List<ToolSpec> tools;
    private final List<JsonNode> toolDefinitions;
    private final ToolChoice toolChoice;
    private final String forcedTool;
    private final boolean stream;
    private final boolean includeUsage;
    private final boolean hasStreamOptions;
    private final Integer maxTokens;
    private final int priority;
    private final JsonNode responseSchema;

    private ChatRequest(
            String model,
            List<ChatMessage> messages,
            List<ToolSpec> tools,
            List<JsonNode> toolDefinitions,
            ToolChoice toolChoice,
            String forcedTool,
            boolean stream,
            boolean includeUsage,
            boolean hasStreamOptions,
            Integer maxTokens,
            int priority,
            JsonNode responseSchema) {
        this.model = model;
        this.messages = messages;
        this.tools = tools;
        this.toolDefinitions = toolDefinitions;
        this.toolChoice = toolChoice;
        this.forcedTool = forcedTool;
        this.stream = stream;
        this.includeUsage = includeUsage;
        this.hasStreamOptions = hasStreamOptions;
        this.maxTokens = maxTokens;
        this.priority = priority;
        this.responseSchema = responseSchema;
    }

    /**
     * Parses and validates a request body.
     *
     * @throws InvalidRequestException when the body is not JSON or breaks the Chat Completions format
     */
    static ChatRequest parse(String body) throws InvalidRequestException {
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(body);
        } catch (JsonProcessingException e) {
            throw new InvalidRequestException(
                    "request body is not valid JSON: " + e.getOriginalMessage(), "invalid_json", null);
        }
        if (root == null || !root.isObject()) {
            throw new InvalidRequestException("request body must be a JSON object", "invalid_json", null);
        }
        ObjectNode request = (ObjectNode) root;
        String model = optionalText(request, "model");
        List<ChatMessage> messages = messages(request.get("messages"));
        List<JsonNode> toolDefinitions = new ArrayList<>();
        List<ToolSpec> tools = tools(request.get("tools"), toolDefinitions);

        ToolChoice toolChoice = tools.isEmpty() ? ToolChoice.NONE : ToolChoice.AUTO;
        String forcedTool = null;
        JsonNode choice = request.get("tool_choice");
        if (choice != null && !choice.isNull()) {
            if (choice.isTextual() && Set.of("none", "auto", "required").contains(choice.asText())) {
                toolChoice = ToolChoice.valueOf(choice.asText().toUpperCase(Locale.ROOT));
            } else if (choice.isObject() && choice.path("function").path("name").isTextual()) {
                forcedTool = choice.get("function").get("name").asText();
                String wanted = forcedTool;
                if (tools.stream().noneMatch(t -> t.name().equals(wanted))) {
                    throw new InvalidRequestException(
                            "tool_choice names function '" + forcedTool + "', which is not in tools",
                            "invalid_value",
                            "tool_choice");
                }
                toolChoice = ToolChoice.NAMED;
            } else {
                throw new InvalidRequestException(
                        "tool_choice must be \"none\", \"auto\", \"required\" or "
                                + "{\"type\": \"function\", \"function\": {\"name\": ...}}",
                        "invalid_value",
                        "tool_choice");
            }
            if (toolChoice != ToolChoice.NONE && tools.isEmpty()) {
                throw new InvalidRequestException(
                        "tool_choice is set but no tools are offered", "invalid_value", "tool_choice");
            }
        }

        boolean stream = optionalBoolean(request, "stream");
        JsonNode streamOptions = request.get("stream_options");
        boolean includeUsage =
                streamOptions != null && streamOptions.path("include_usage").asBoolean(false);

        Integer maxTokens = positiveInt(request, "max_completion_tokens");
        if (maxTokens == null) {
            maxTokens = positiveInt(request, "max_tokens");
        }
        JsonNode n = request.get("n");
        if (n != null && !n.isNull() && !(n.canConvertToInt() && n.asInt() == 1)) {
            throw new InvalidRequestException("the simulator supports only n = 1", "unsupported_parameter", "n");
        }
        int priority = 0;
        JsonNode priorityNode = request.get("priority");
        if (priorityNode != null && !priorityNode.isNull()) {
            if (!priorityNode.isIntegralNumber() || !priorityNode.canConvertToInt()) {
                throw new InvalidRequestException("priority must be an integer", "invalid_type", "priority");
            }
            priority = priorityNode.asInt();
        }
        return new ChatRequest(
                model,
                List.copyOf(messages),
                List.copyOf(tools),
                List.copyOf(toolDefinitions),
                toolChoice,
                forcedTool,
                stream,
                includeUsage,
                streamOptions != null && !streamOptions.isNull(),
                maxTokens,
                priority,
                responseSchema(request));
    }

    private static List<ChatMessage> messages(JsonNode node) throws InvalidRequestException {
        if (node == null || node.isNull()) {
            throw new InvalidRequestException(
                    "'messages' is a required property", "missing_required_parameter", "messages");
        }
        if (!node.isArray() || node.isEmpty()) {
            throw new InvalidRequestException("'messages' must be a non-empty array", "invalid_value", "messages");
        }
        List<ChatMessage> out = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode message = node.get(i);
            String param = "messages[" + i + "]";
            if (!message.isObject()) {
                throw new InvalidRequestException(param + " must be an object", "invalid_type", param);
            }
            JsonNode role = message.get("role");
            if (role == null || !role.isTextual() || !ROLES.contains(role.asText())) {
                throw new InvalidRequestException(
                        param + ".role must be one of " + ROLES, "invalid_value", param + ".role");
            }
            String content = content(message.get("content"), param + ".content");
            List<ChatMessage.ToolCallMessage> calls = toolCalls(message.get("tool_calls"), param + ".tool_calls");
            JsonNode toolCallId = message.get("tool_call_id");
            out.add(new ChatMessage(
                    role.asText(),
                    content,
                    calls,
                    toolCallId != null && toolCallId.isTextual() ? toolCallId.asText() : null));
        }
        return out;
    }

    private static String content(JsonNode node, String param) throws InvalidRequestException {
        if (node == null || node.isNull()) {
            return "";
        }
        if (node.isTextual()) {
            return node.asText();
        }
        if (node.isArray()) {
            StringBuilder text = new StringBuilder();
            for (JsonNode part : node) {
                if (part.isTextual()) {
                    text.append(part.asText());
                } else if (part.path("type").asText().equals("text")
                        && part.path("text").isTextual()) {
                    text.append(part.get("text").asText());
                }
            }
            return text.toString();
        }
        throw new InvalidRequestException(
                param + " must be a string, an array of content parts or null", "invalid_type", param);
    }

    private static List<ChatMessage.ToolCallMessage> toolCalls(JsonNode node, String param)
            throws InvalidRequestException {
        if (node == null || node.isNull()) {
            return List.of();
        }
        if (!node.isArray()) {
            throw new InvalidRequestException(param + " must be an array", "invalid_type", param);
        }
        List<ChatMessage.ToolCallMessage> out = new ArrayList<>();
        for (JsonNode call : node) {
            JsonNode function = call.path("function");
            if (!function.path("name").isTextual()) {
                throw new InvalidRequestException(
                        param + "[].function.name is required", "missing_required_parameter", param);
            }
            JsonNode arguments = function.get("arguments");
            String argumentsText = arguments == null || arguments.isNull()
                    ? ""
                    : arguments.isTextual() ? arguments.asText() : Json.write(arguments);
            out.add(new ChatMessage.ToolCallMessage(
                    call.path("id").asText(""), function.get("name").asText(), argumentsText));
        }
        return out;
    }

    private static List<ToolSpec> tools(JsonNode node, List<JsonNode> definitions) throws InvalidRequestException {
        if (node == null || node.isNull()) {
            return List.of();
        }
        if (!node.isArray()) {
            throw new InvalidRequestException("'tools' must be an array", "invalid_type", "tools");
        }
        List<ToolSpec> out = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode tool = node.get(i);
            JsonNode function = tool.path("function");
            if (!tool.path("type").asText().equals("function")
                    || !function.path("name").isTextual()
                    || function.get("name").asText().isEmpty()) {
                throw new InvalidRequestException(
                        "tools[" + i + "] must be {\"type\": \"function\", \"function\": " + "{\"name\": ...}}",
                        "invalid_value",
                        "tools[" + i + "]");
            }
            JsonNode parameters = function.get("parameters");
            if (parameters != null && !parameters.isNull() && !parameters.isObject()) {
                throw new InvalidRequestException(
                        "tools[" + i + "].function.parameters must be a JSON Schema object",
                        "invalid_type",
                        "tools[" + i + "].function.parameters");
            }
            out.add(new ToolSpec(
                    function.get("name").asText(), function.path("description").asText(""), parameters));
            definitions.add(tool);
        }
        return out;
    }

    private static JsonNode responseSchema(ObjectNode request) throws InvalidRequestException {
        JsonNode format = request.get("response_format");
        if (format == null || format.isNull()) {
            return null;
        }
        String type = format.path("type").asText("");
        switch (type) {
            case "text":
            case "json_object":
                return null;
            case "json_schema": {
                JsonNode schema = format.path("json_schema").get("schema");
                if (schema == null || !schema.isObject()) {
                    throw new InvalidRequestException(
                            "response_format.json_schema.schema must be a JSON Schema object",
                            "invalid_value",
                            "response_format");
                }
                return schema;
            }
            default:
                throw new InvalidRequestException(
                        "response_format.type must be text, json_object or json_schema",
                        "invalid_value",
                        "response_format");
        }
    }

    private static String optionalText(ObjectNode request, String field) throws InvalidRequestException {
        JsonNode node = request.get(field);
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isTextual()) {
            throw new InvalidRequestException("'" + field + "' must be a string", "invalid_type", field);
        }
        return node.asText();
    }

    private static boolean optionalBoolean(ObjectNode request, String field) throws InvalidRequestException {
        JsonNode node = request.get(field);
        if (node == null || node.isNull()) {
            return false;
        }
        if (!node.isBoolean()) {
            throw new InvalidRequestException("'" + field + "' must be a boolean", "invalid_type", field);
        }
        return node.asBoolean();
    }

    private static Integer positiveInt(ObjectNode request, String field) throws InvalidRequestException {
        JsonNode node = request.get(field);
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isIntegralNumber() || !node.canConvertToInt() || node.asInt() < 1) {
            throw new InvalidRequestException("'" + field + "' must be an integer >= 1", "invalid_value", field);
        }
        return node.asInt();
    }

    /** The requested model name, or null when the request names none. */
    String model() {
        return model;
    }

    List<ChatMessage> messages() {
        return messages;
    }

    /** Offered tools, in request order. */
    List<ToolSpec> tools() {
        return tools;
    }

    /** The raw {@code tools} entries, in request order, for the chat template. */
    List<JsonNode> toolDefinitions() {
        return toolDefinitions;
    }

    ToolChoice toolChoice() {
        return toolChoice;
    }

    /** The function {@code tool_choice} names, or null. */
    String forcedTool() {
        return forcedTool;
    }

    boolean stream() {
        return stream;
    }

    boolean includeUsage() {
        return includeUsage;
    }

    /** True when the body has a non-null {@code stream_options}, whatever {@code stream} says. */
    boolean hasStreamOptions() {
        return hasStreamOptions;
    }

    /** {@code max_completion_tokens}, else {@code max_tokens}, else null (no limit). */
    Integer maxTokens() {
        return maxTokens;
    }

    /** The {@code priority} field as sent, 0 when absent; its polarity depends on the dialect. */
    int priority() {
        return priority;
    }

    /** {@code response_format.json_schema.schema}, or null. */
    JsonNode responseSchema() {
        return responseSchema;
    }

    /** True when some message has role {@code tool}. */
    boolean hasToolMessage() {
        return messages.stream().anyMatch(m -> m.role().equals("tool"));
    }

    /** Content of the last user message, or "". */
    String lastUserMessage() {
        for (int i = messages.size() - 1; i >= 0; i--) {
            if (messages.get(i).role().equals("user")) {
                return messages.get(i).content();
            }
        }
        return "";
    }
}
