package io.batchagent.gateway;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.inference.ChatResponse;
import io.batchagent.inference.EngineFailure;
import io.batchagent.inference.RequestedToolCall;
import io.batchagent.inference.TokenUsage;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Writes an engine's answer back to a client in the OpenAI chat completions wire format: a
 * {@code chat.completion} object, or a {@code text/event-stream} of {@code chat.completion.chunk} events
 * ending in {@code data: [DONE]}.
 *
 * <p>The answer's text and each tool call's id, name and argument text are written exactly as the engine
 * produced them. A stream carries: a role delta, the content (one delta), each tool call (one delta each,
 * whole), a finish delta, a usage chunk when the client asked for {@code stream_options.include_usage},
 * and {@code [DONE]}.
 *
 * <p>Stateless and thread-safe.
 */
final class ChatCompletionWriter {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private ChatCompletionWriter() {}

    /** A non-streamed answer. */
    static byte[] completion(ChatResponse answer, String id, String model, long created) {
        ObjectNode root = NODES.objectNode();
        root.put("id", id);
        root.put("object", "chat.completion");
        root.put("created", created);
        root.put("model", model);
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        ObjectNode message = choice.putObject("message");
        message.put("role", "assistant");
        if (answer.content() == null) {
            message.putNull("content");
        } else {
            message.put("content", answer.content());
        }
        if (!answer.toolCalls().isEmpty()) {
            ArrayNode calls = message.putArray("tool_calls");
            for (RequestedToolCall call : answer.toolCalls()) {
                ObjectNode node = calls.addObject();
                node.put("id", call.id());
                node.put("type", "function");
                node.putObject("function").put("name", call.name()).put("arguments", call.arguments());
            }
        }
        choice.putNull("logprobs");
        putText(choice, "finish_reason", answer.finishReason());
        root.set("usage", usage(answer.usage()));
        return bytes(root);
    }

    /** A streamed answer, as the whole event stream. */
    static byte[] stream(ChatResponse answer, String id, String model, long created, boolean includeUsage) {
        StringBuilder events = new StringBuilder();
        ObjectNode role = NODES.objectNode().put("role", "assistant").put("content", "");
        event(events, chunk(id, model, created, role, null, includeUsage));
        if (answer.content() != null && !answer.content().isEmpty()) {
            event(
                    events,
                    chunk(id, model, created, NODES.objectNode().put("content", answer.content()), null, includeUsage));
        }
        List<RequestedToolCall> calls = answer.toolCalls();
        for (int i = 0; i < calls.size(); i++) {
            RequestedToolCall call = calls.get(i);
            ObjectNode delta = NODES.objectNode();
            ObjectNode node = delta.putArray("tool_calls").addObject();
            node.put("index", i);
            node.put("id", call.id());
            node.put("type", "function");
            node.putObject("function").put("name", call.name()).put("arguments", call.arguments());
            event(events, chunk(id, model, created, delta, null, includeUsage));
        }
        String finish = answer.finishReason() == null ? "stop" : answer.finishReason();
        event(events, chunk(id, model, created, NODES.objectNode(), finish, includeUsage));
        if (includeUsage) {
            ObjectNode last = header(id, model, created);
            last.putArray("choices");
            last.set("usage", usage(answer.usage()));
            event(events, last);
        }
        events.append("data: [DONE]\n\n");
        return events.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** An OpenAI-style error body. */
    static byte[] error(String message, String type, String code) {
        ObjectNode root = NODES.objectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", message);
        error.put("type", type);
        error.putNull("param");
        putText(error, "code", code);
        return bytes(root);
    }

    /** The HTTP status a failed engine call is answered with: the engine's own 4xx/5xx, else 502. */
    static int status(EngineFailure failure) {
        int status = failure.httpStatus().orElse(0);
        if (failure.isTimeout()) {
            return 504;
        }
        return status >= 400 && status < 600 ? status : 502;
    }

    private static ObjectNode chunk(
            String id, String model, long created, ObjectNode delta, String finishReason, boolean includeUsage) {
        ObjectNode root = header(id, model, created);
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        choice.set("delta", delta);
        choice.putNull("logprobs");
        putText(choice, "finish_reason", finishReason);
        if (includeUsage) {
            root.putNull("usage");
        }
        return root;
    }

    private static ObjectNode header(String id, String model, long created) {
        ObjectNode root = NODES.objectNode();
        root.put("id", id);
        root.put("object", "chat.completion.chunk");
        root.put("created", created);
        root.put("model", model);
        return root;
    }

    private static ObjectNode usage(TokenUsage usage) {
        ObjectNode node = NODES.objectNode();
        node.put("prompt_tokens", usage.promptTokens());
        node.put("completion_tokens", usage.completionTokens());
        node.put("total_tokens", usage.promptTokens() + usage.completionTokens());
        if (usage.cacheReported()) {
            node.putObject("prompt_tokens_details").put("cached_tokens", usage.cachedPromptTokens());
        }
        return node;
    }

    private static void event(StringBuilder events, ObjectNode data) {
        events.append("data: ").append(data.toString()).append("\n\n");
    }

    private static void putText(ObjectNode node, String field, String value) {
        if (value == null) {
            node.putNull(field);
        } else {
            node.put(field, value);
        }
    }

    private static byte[] bytes(ObjectNode node) {
        try {
            return JSON.writeValueAsBytes(node);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise a JSON tree", e);
        }
    }
}
