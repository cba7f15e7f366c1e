package io.batchagent.inference;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Turns an OpenAI chat completions answer (OpenAI, vLLM, SGLang, Dynamo, the simulator) into a
 * {@link ChatResponse}: either a server-sent event stream fed chunk by chunk ({@link #feed}, then
 * {@link #finish}), or a whole JSON body ({@link #parseBody}).
 *
 * <p>Stream handling: unnamed events carry the chunks; named events (Dynamo's {@code tool_call_dispatch}
 * and {@code reasoning_dispatch} annotations) are not chunks and are skipped, so a tool call announced
 * early is not counted twice. {@code data: [DONE]} ends the stream, content deltas are concatenated,
 * tool-call fragments are reassembled by their {@code index} (id and name in the first fragment,
 * arguments spread over many, a whole call in one fragment as Dynamo sends it), the last non-null
 * {@code finish_reason} and {@code usage} win. An {@code error} object in the stream makes the call a
 * failure (retriable for overload statuses); an event that is not JSON, or a stream that ends before a
 * finish reason or {@code [DONE]}, makes it a retriable failure: the answer was damaged on the way.
 *
 * <p>Usage: {@code prompt_tokens}, {@code completion_tokens}, and {@code prompt_tokens_details.cached_tokens}
 * when present (vLLM sends it only with {@code --enable-prompt-tokens-details}, SGLang only with
 * {@code --enable-cache-report}; otherwise {@link TokenUsage#cacheReported()} is false).
 *
 * <p>Not thread-safe: one parser per attempt, fed by one subscriber.
 */
final class ChatCompletionParser implements HttpTransport.StreamParser {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Reads chat completions answers for {@link HttpTransport}. */
    static final HttpTransport.AnswerReader READER = new HttpTransport.AnswerReader() {
        @Override
        public HttpTransport.StreamParser stream(long startNanos) {
            return new ChatCompletionParser(startNanos, System::nanoTime);
        }

        @Override
        public ChatResponse parseBody(String body, long startNanos) {
            return ChatCompletionParser.parseBody(body, startNanos, System::nanoTime);
        }
    };

    private final long startNanos;
    private final LongSupplier nanoTime;
    private final SseDecoder decoder = new SseDecoder(this::onEvent);

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
    @Override
    public void feed(byte[] chunk) {
        decoder.feed(chunk);
    }

    /** Ends the stream: dispatches what is left and builds the response. */
    @Override
    public ChatResponse finish() {
        decoder.finish();
        long latencyMs = elapsedMs(nanoTime.getAsLong());
        if (failure != null) {
            return ChatResponse.failed(failure, latencyMs);
        }
        if (!done && finishReason == null) {
            return ChatResponse.failed(
                    EngineFailure.other("the engine's event stream ended before a finish_reason or [DONE]", true),
                    latencyMs);
        }
        OptionalLong ttft = firstTokenNanos < 0 ? OptionalLong.empty() : OptionalLong.of(elapsedMs(firstTokenNanos));
        return ChatResponse.answer(
                sawContent ? content.toString() : null, buildToolCalls(), finishReason, usage, ttft, latencyMs);
    }

    /** Parses a whole (non-streamed) chat completion body. */
    static ChatResponse parseBody(String body, long startNanos, LongSupplier nanoTime) {
        ChatCompletionParser parser = new ChatCompletionParser(startNanos, nanoTime);
        long latencyMs = parser.elapsedMs(nanoTime.getAsLong());
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            return ChatResponse.failed(
                    EngineFailure.other("the engine's answer is not JSON: " + excerpt(body), false), latencyMs);
        }
        if (root == null || !root.isObject()) {
            return ChatResponse.failed(
                    EngineFailure.other("the engine's answer is not a JSON object: " + excerpt(body), false),
                    latencyMs);
        }
        EngineFailure error = errorIn(root);
        if (error != null) {
            return ChatResponse.failed(error, latencyMs);
        }
        JsonNode choice = root.path("choices").path(0);
        if (choice.isMissingNode()) {
            return ChatResponse.failed(
                    EngineFailure.other("the engine's answer has no choices: " + excerpt(body), false), latencyMs);
        }
        JsonNode message = choice.path("message");
        String text = textOrNull(message.get("content"));
        List<RequestedToolCall> calls = new ArrayList<>();
        for (JsonNode call : message.path("tool_calls")) {
            JsonNode function = call.path("function");
            calls.add(new RequestedToolCall(
                    textOrNull(call.get("id")),
                    textOrNull(function.get("name")),
                    argumentsText(function.get("arguments"))));
        }
        return ChatResponse.answer(
                text,
                calls,
                textOrNull(choice.get("finish_reason")),
                usageOf(root.get("usage")),
                OptionalLong.empty(),
                latencyMs);
    }

    /** An excerpt of an engine's answer for error messages: at most 512 characters, on one line. */
    static String excerpt(String body) {
        return EngineMessages.excerpt(body);
    }

    private void onEvent(String event, String data) {
        if (done || failure != null) {
            return;
        }
        if (event != null && !event.equals("message")) {
            if (event.equals("error")) {
                failure = EngineFailure.other(
                        "the engine sent an error event: " + EngineMessages.engineMessage(data), true);
            }
            // Other named events are annotations (Dynamo's tool_call_dispatch), not chunks.
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
            failure = EngineFailure.other("the engine sent an event that is not JSON: " + excerpt(data), true);
            return;
        }
        if (chunk == null || !chunk.isObject()) {
            failure = EngineFailure.other("the engine sent an event that is not a JSON object: " + excerpt(data), true);
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
            JsonNode arguments = function.get("arguments");
            if (arguments != null && !arguments.isNull()) {
                builder.arguments.append(argumentsText(arguments));
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

    /** Arguments as text: most servers send a string, some an object. */
    private static String argumentsText(JsonNode arguments) {
        if (arguments == null || arguments.isNull()) {
            return "";
        }
        return arguments.isTextual() ? arguments.asText() : arguments.toString();
    }

    private static EngineFailure errorIn(JsonNode root) {
        JsonNode error = root.get("error");
        if (error != null && !error.isNull()) {
            String message = error.isObject() ? textOrNull(error.get("message")) : error.asText();
            JsonNode code = error.path("code");
            String type = error.path("type").asText("");
            boolean retriable = (code.isInt() && EngineMessages.RETRIED_STATUSES.contains(code.asInt()))
                    || type.equals("overloaded_error")
                    || type.equals("rate_limit_error");
            String text = "the engine reported an error: " + excerpt(message == null ? error.toString() : message);
            return code.isInt()
                    ? new EngineFailure(OptionalInt.of(code.asInt()), text, retriable)
                    : EngineFailure.other(text, retriable);
        }
        // vLLM's older error shape: {"object": "error", "message": ..., "code": ...}
        if ("error".equals(textOrNull(root.get("object")))) {
            JsonNode code = root.path("code");
            String text = "the engine reported an error: " + excerpt(textOrNull(root.get("message")));
            boolean retriable = code.isInt() && EngineMessages.RETRIED_STATUSES.contains(code.asInt());
            return code.isInt()
                    ? new EngineFailure(OptionalInt.of(code.asInt()), text, retriable)
                    : EngineFailure.other(text, retriable);
        }
        return null;
    }

    private static TokenUsage usageOf(JsonNode usage) {
        if (usage == null || !usage.isObject()) {
            return TokenUsage.ZERO;
        }
        JsonNode cached = usage.path("prompt_tokens_details").path("cached_tokens");
        boolean reported = cached.isNumber();
        return new TokenUsage(
                usage.path("prompt_tokens").asLong(0),
                reported ? cached.asLong(0) : 0,
                usage.path("completion_tokens").asLong(0),
                0,
                reported);
    }

    private static String textOrNull(JsonNode node) {
        return node == null || node.isNull() || node.isMissingNode() ? null : node.asText();
    }
}
