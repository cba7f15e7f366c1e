package io.batchagent.inference;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Turns an OpenAI chat completions answer into a {@link ChatResponse}: either a server-sent event
 * stream fed chunk by chunk ({@link #feed}, then {@link #finish}), or a whole JSON body
 * ({@link #parseBody}).
 *
 * <p>Stream handling: {@code data:} lines are joined per event (events end at a blank line),
 * {@code data: [DONE]} ends the stream, content deltas are concatenated, tool-call fragments are
 * reassembled by their {@code index} (id and name in the first fragment, arguments spread over
 * many), the last non-null {@code finish_reason} and {@code usage} win. An {@code error} object in the
 * stream, or an event that is not JSON, makes the call a failure.
 *
 * <p>Not thread-safe: one parser per attempt, fed by one subscriber.
 */
final class ChatCompletionParser {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int EXCERPT_CHARS = 512;

    private final long startNanos;
    private final LongSupplier nanoTime;
    private final ByteArrayOutputStream line = new ByteArrayOutputStream(256);
    private final StringBuilder eventData = new StringBuilder();
    private boolean eventHasData;

    private final StringBuilder content = new StringBuilder();
    private boolean sawContent;
    private final Map<Integer, ToolCallBuilder> toolCalls = new TreeMap<>();
    private String finishReason;
    private TokenUsage usage = TokenUsage.ZERO;
    private long firstTokenNanos = -1;
    private boolean done;
    private EngineFailure failure;

    private static final class ToolCallBuilder {
        String id;
        String name;
        final StringBuilder arguments = new StringBuilder();
    }

    /**
     * @param startNanos when the call started, on the {@code nanoTime} clock
     * @param nanoTime the clock for time to first token and latency
     */
    ChatCompletionParser(long startNanos, LongSupplier nanoTime) {
        this.startNanos = startNanos;
        this.nanoTime = nanoTime;
    }

    /** Consumes the next bytes of an event stream; chunk boundaries may fall anywhere, even inside a character. */
    void feed(byte[] chunk) {
        for (byte b : chunk) {
            if (b == '\n') {
                // Split on the byte before decoding, so a multi-byte character cut by a chunk boundary stays whole.
                onLine(line.toString(StandardCharsets.UTF_8));
                line.reset();
            } else {
                line.write(b);
            }
        }
    }

    /** Ends the stream: dispatches what is left and builds the response. */
    ChatResponse finish() {
        if (line.size() > 0) {
            onLine(line.toString(StandardCharsets.UTF_8));
            line.reset();
        }
        dispatchEvent();
        long latencyMs = elapsedMs(nanoTime.getAsLong());
        if (failure != null) {
            return ChatResponse.failed(failure, latencyMs);
        }
        if (!done && finishReason == null) {
            return ChatResponse.failed(EngineFailure.other(
                    "the engine's event stream ended before a finish_reason or [DONE]", true), latencyMs);
        }
        OptionalLong ttft = firstTokenNanos < 0 ? OptionalLong.empty() : OptionalLong.of(elapsedMs(firstTokenNanos));
        return ChatResponse.answer(sawContent ? content.toString() : null, buildToolCalls(), finishReason, usage,
                ttft, latencyMs);
    }

    /** Parses a whole (non-streamed) chat completion body. */
    static ChatResponse parseBody(String body, long startNanos, LongSupplier nanoTime) {
        ChatCompletionParser parser = new ChatCompletionParser(startNanos, nanoTime);
        long latencyMs = parser.elapsedMs(nanoTime.getAsLong());
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            return ChatResponse.failed(EngineFailure.other(
                    "the engine's answer is not JSON: " + excerpt(body), false), latencyMs);
        }
        if (root == null || !root.isObject()) {
            return ChatResponse.failed(EngineFailure.other(
                    "the engine's answer is not a JSON object: " + excerpt(body), false), latencyMs);
        }
        EngineFailure error = errorIn(root);
        if (error != null) {
            return ChatResponse.failed(error, latencyMs);
        }
        JsonNode choice = root.path("choices").path(0);
        if (choice.isMissingNode()) {
            return ChatResponse.failed(EngineFailure.other(
                    "the engine's answer has no choices: " + excerpt(body), false), latencyMs);
        }
        JsonNode message = choice.path("message");
        String text = textOrNull(message.get("content"));
        List<RequestedToolCall> calls = new ArrayList<>();
        for (JsonNode call : message.path("tool_calls")) {
            JsonNode function = call.path("function");
            JsonNode arguments = function.get("arguments");
            // Some servers send arguments as an object rather than a string.
            String args = arguments == null || arguments.isNull() ? ""
                    : arguments.isTextual() ? arguments.asText() : arguments.toString();
            calls.add(new RequestedToolCall(textOrNull(call.get("id")), textOrNull(function.get("name")), args));
        }
        return ChatResponse.answer(text, calls, textOrNull(choice.get("finish_reason")), usageOf(root.get("usage")),
                OptionalLong.empty(), latencyMs);
    }

    /** An excerpt of an engine's answer for error messages: at most 512 characters, on one line. */
    static String excerpt(String body) {
        if (body == null || body.isBlank()) {
            return "(empty body)";
        }
        String oneLine = body.strip().replaceAll("\\s+", " ");
        return oneLine.length() <= EXCERPT_CHARS ? oneLine : oneLine.substring(0, EXCERPT_CHARS) + "...";
    }

    private void onLine(String raw) {
        String text = raw.endsWith("\r") ? raw.substring(0, raw.length() - 1) : raw;
        if (text.isEmpty()) {
            dispatchEvent();
        } else if (text.startsWith("data:")) {
            String value = text.substring(5);
            if (value.startsWith(" ")) {
                value = value.substring(1);
            }
            if (eventHasData) {
                eventData.append('\n');
            }
            eventData.append(value);
            eventHasData = true;
        }
        // Comments (":...") and other fields (event:, id:, retry:) carry nothing for chat completions.
    }

    private void dispatchEvent() {
        if (!eventHasData) {
            return;
        }
        String data = eventData.toString();
        eventData.setLength(0);
        eventHasData = false;
        if (done || failure != null) {
            return;
        }
        if (data.strip().equals("[DONE]")) {
            done = true;
            return;
        }
        JsonNode chunk;
        try {
            chunk = JSON.readTree(data);
        } catch (JsonProcessingException e) {
            failure = EngineFailure.other("the engine sent an event that is not JSON: " + excerpt(data), false);
            return;
        }
        if (chunk == null || !chunk.isObject()) {
            failure = EngineFailure.other("the engine sent an event that is not a JSON object: " + excerpt(data), false);
            return;
        }
        failure = errorIn(chunk);
        if (failure != null) {
            return;
        }
        JsonNode usageNode = chunk.get("usage");
        if (usageNode != null && !usageNode.isNull()) {
            usage = usageOf(usageNode);
        }
        for (JsonNode choice : chunk.path("choices")) {
            onDelta(choice.path("delta"));
            String reason = textOrNull(choice.get("finish_reason"));
            if (reason != null) {
                finishReason = reason;
            }
        }
    }

    private void onDelta(JsonNode delta) {
        String text = textOrNull(delta.get("content"));
        if (text != null) {
            content.append(text);
            sawContent = true;
            if (!text.isEmpty()) {
                markFirstToken();
            }
        }
        JsonNode calls = delta.get("tool_calls");
        if (calls == null || !calls.isArray()) {
            return;
        }
        int position = 0;
        for (JsonNode call : calls) {
            int index = call.path("index").isInt() ? call.path("index").asInt() : position;
            position++;
            ToolCallBuilder builder = toolCalls.computeIfAbsent(index, i -> new ToolCallBuilder());
            String id = textOrNull(call.get("id"));
            if (id != null && !id.isEmpty() && builder.id == null) {
                builder.id = id;
            }
            JsonNode function = call.path("function");
            String name = textOrNull(function.get("name"));
            if (name != null && !name.isEmpty() && builder.name == null) {
                builder.name = name;
            }
            String arguments = textOrNull(function.get("arguments"));
            if (arguments != null) {
                builder.arguments.append(arguments);
            }
            markFirstToken();
        }
    }

    private void markFirstToken() {
        if (firstTokenNanos < 0) {
            firstTokenNanos = nanoTime.getAsLong();
        }
    }

    private List<RequestedToolCall> buildToolCalls() {
        List<RequestedToolCall> calls = new ArrayList<>(toolCalls.size());
        for (ToolCallBuilder builder : toolCalls.values()) {
            calls.add(new RequestedToolCall(builder.id, builder.name, builder.arguments.toString()));
        }
        return calls;
    }

    private long elapsedMs(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(Math.max(0, nanos - startNanos));
    }

    private static EngineFailure errorIn(JsonNode root) {
        JsonNode error = root.get("error");
        if (error != null && !error.isNull()) {
            String message = error.isObject() ? textOrNull(error.get("message")) : error.asText();
            JsonNode code = error.path("code");
            String text = "the engine reported an error: " + excerpt(message == null ? error.toString() : message);
            return code.isInt() ? new EngineFailure(OptionalInt.of(code.asInt()), text, false)
                    : EngineFailure.other(text, false);
        }
        // vLLM's error shape: {"object": "error", "message": ..., "code": ...}
        if ("error".equals(textOrNull(root.get("object")))) {
            JsonNode code = root.path("code");
            String text = "the engine reported an error: " + excerpt(textOrNull(root.get("message")));
            return code.isInt() ? new EngineFailure(OptionalInt.of(code.asInt()), text, false)
                    : EngineFailure.other(text, false);
        }
        return null;
    }

    private static TokenUsage usageOf(JsonNode usage) {
        if (usage == null || !usage.isObject()) {
            return TokenUsage.ZERO;
        }
        return new TokenUsage(
                usage.path("prompt_tokens").asLong(0),
                usage.path("prompt_tokens_details").path("cached_tokens").asLong(0),
                usage.path("completion_tokens").asLong(0));
    }

    private static String textOrNull(JsonNode node) {
        return node == null || node.isNull() || node.isMissingNode() ? null : node.asText();
    }
}
