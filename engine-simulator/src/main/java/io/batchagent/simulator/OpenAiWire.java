package io.batchagent.simulator;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Builds the OpenAI Chat Completions wire objects for one response. Immutable, thread-safe.
 */
final class OpenAiWire {

    private final String id;
    private final long created;
    private final String model;
    private final boolean includeUsageInStream;
    private final boolean cacheReport;

    /**
     * @param cacheReport whether usage carries {@code prompt_tokens_details.cached_tokens} (else that
     *     object is null, as SGLang without --enable-cache-report and vLLM without
     *     --enable-prompt-tokens-details answer)
     */
    OpenAiWire(String id, long created, String model, boolean includeUsageInStream, boolean cacheReport) {
        this.id = id;
        this.created = created;
        this.model = model;
        this.includeUsageInStream = includeUsageInStream;
        this.cacheReport = cacheReport;
    }

    /** The non-streamed {@code chat.completion} object. */
    String completion(Completion completion, int promptTokens, int cachedTokens) {
        ObjectNode message = Json.NODES.objectNode();
        message.put("role", "assistant");
        if (completion.isToolCall()) {
            message.putNull("content");
            ArrayNode calls = message.putArray("tool_calls");
            ObjectNode call = calls.addObject();
            call.put("id", completion.toolCallId());
            call.put("type", "function");
            ObjectNode function = call.putObject("function");
            function.put("name", completion.toolName());
            function.put("arguments", completion.arguments());
        } else {
            message.put("content", completion.content());
        }
        ObjectNode root = header("chat.completion");
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        choice.set("message", message);
        choice.putNull("logprobs");
        choice.put("finish_reason", completion.finishReason());
        root.set("usage", usage(promptTokens, completion.tokenCount(), cachedTokens));
        return Json.write(root);
    }

    /** The first streamed chunk: the assistant role. */
    String roleChunk() {
        ObjectNode delta = Json.NODES.objectNode();
        delta.put("role", "assistant");
        delta.put("content", "");
        return chunk(delta, null);
    }

    /** A content delta. */
    String contentChunk(String text) {
        ObjectNode delta = Json.NODES.objectNode();
        delta.put("content", text);
        return chunk(delta, null);
    }

    /** The first tool-call fragment: index, id, type, name and the first piece of the arguments. */
    String toolCallStartChunk(Completion completion, String firstArguments) {
        ObjectNode delta = Json.NODES.objectNode();
        ObjectNode call = delta.putArray("tool_calls").addObject();
        call.put("index", 0);
        call.put("id", completion.toolCallId());
        call.put("type", "function");
        ObjectNode function = call.putObject("function");
        function.put("name", completion.toolName());
        function.put("arguments", firstArguments);
        return chunk(delta, null);
    }

    /** A later tool-call fragment: only the index and a piece of the arguments. */
    String toolCallArgumentsChunk(String arguments) {
        ObjectNode delta = Json.NODES.objectNode();
        ObjectNode call = delta.putArray("tool_calls").addObject();
        call.put("index", 0);
        call.putObject("function").put("arguments", arguments);
        return chunk(delta, null);
    }

    /** The chunk with an empty delta and the finish reason. */
    String finishChunk(String finishReason) {
        return chunk(Json.NODES.objectNode(), finishReason);
    }

    /** The {@code include_usage} chunk: no choices, only usage. */
    String usageChunk(int promptTokens, int completionTokens, int cachedTokens) {
        ObjectNode root = header("chat.completion.chunk");
        root.putArray("choices");
        root.set("usage", usage(promptTokens, completionTokens, cachedTokens));
        return Json.write(root);
    }

    private String chunk(ObjectNode delta, String finishReason) {
        ObjectNode root = header("chat.completion.chunk");
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        choice.set("delta", delta);
        choice.putNull("logprobs");
        if (finishReason == null) {
            choice.putNull("finish_reason");
        } else {
            choice.put("finish_reason", finishReason);
        }
        if (includeUsageInStream) {
            root.putNull("usage"); // OpenAI sends "usage": null on every chunk but the last when asked for usage
        }
        return Json.write(root);
    }

    private ObjectNode header(String object) {
        ObjectNode root = Json.NODES.objectNode();
        root.put("id", id);
        root.put("object", object);
        root.put("created", created);
        root.put("model", model);
        return root;
    }

    private ObjectNode usage(int promptTokens, int completionTokens, int cachedTokens) {
        ObjectNode usage = Json.NODES.objectNode();
        usage.put("prompt_tokens", promptTokens);
        usage.put("completion_tokens", completionTokens);
        usage.put("total_tokens", promptTokens + completionTokens);
        if (cacheReport) {
            usage.putObject("prompt_tokens_details").put("cached_tokens", cachedTokens);
        } else {
            usage.putNull("prompt_tokens_details");
        }
        return usage;
    }

    /** An OpenAI-style error body. */
    /** vLLM's error body: an OpenAI-style {@code error} object whose {@code code} is the HTTP status, 400. */
    static String vllmError(String message) {
        ObjectNode root = Json.NODES.objectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", message);
        error.put("type", "BadRequestError");
        error.putNull("param");
        error.put("code", 400);
        return Json.write(root);
    }

    /** SGLang's error body (its ErrorResponse): the fields at the top level, {@code object} "error", code 400. */
    static String sglangError(String message) {
        ObjectNode root = Json.NODES.objectNode();
        root.put("object", "error");
        root.put("message", message);
        root.put("type", "BadRequestError");
        root.putNull("param");
        root.put("code", 400);
        return Json.write(root);
    }

    static String error(String message, String type, String code, String param) {
        ObjectNode root = Json.NODES.objectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", message);
        error.put("type", type);
        if (param == null) {
            error.putNull("param");
        } else {
            error.put("param", param);
        }
        if (code == null) {
            error.putNull("code");
        } else {
            error.put("code", code);
        }
        return Json.write(root);
    }
}
