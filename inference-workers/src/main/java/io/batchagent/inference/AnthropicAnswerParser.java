package io.batchagent.inference;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Turns an Anthropic Messages answer into a {@link ChatResponse}: a streamed one (server-sent events
 * {@code message_start}, {@code content_block_start}, {@code content_block_delta}, {@code content_block_stop},
 * {@code message_delta}, {@code message_stop}, {@code ping}, {@code error}) or a whole {@code message} body.
 *
 * <p>Content blocks are kept by their {@code index}: text blocks' {@code text_delta}s are concatenated
 * into the answer's content; a {@code tool_use} block's id and name come from its
 * {@code content_block_start}, and its arguments are every {@code input_json_delta.partial_json} of that
 * index concatenated in order (the block's start {@code input} when no delta came; {@code {}} when both
 * are empty). Stop reasons map to the chat completions vocabulary: {@code end_turn} and
 * {@code stop_sequence} to {@code stop}, {@code tool_use} to {@code tool_calls}, {@code max_tokens} to
 * {@code length}.
 *
 * <p>Usage: {@code message_start} gives the input counts, {@code message_delta} the cumulative counts
 * (the last value of each field wins). Prompt tokens = {@code input_tokens} +
 * {@code cache_creation_input_tokens} + {@code cache_read_input_tokens}; cached = {@code cache_read_input_tokens};
 * cache writes = {@code cache_creation_input_tokens}.
 *
 * <p>An {@code error} event fails the call (retriable for {@code overloaded_error} and
 * {@code rate_limit_error}); an event that is not JSON, or a stream ending before {@code message_stop} and
 * without a stop reason, fails it retriably. Not thread-safe: one parser per attempt.
 */
final class AnthropicAnswerParser implements HttpTransport.StreamParser {

    private static final ObjectMapper JSON = new ObjectMapper();

    static final HttpTransport.AnswerReader READER = new HttpTransport.AnswerReader() {
        @Override
        public HttpTransport.StreamParser stream(long startNanos) {
            return new AnthropicAnswerParser(startNanos, System::nanoTime);
        }

        @Override
        public ChatResponse parseBody(String body, long startNanos) {
            return AnthropicAnswerParser.parseBody(body, startNanos, System::nanoTime);
        }
    };

    private final long startNanos;
    private final LongSupplier nanoTime;
    private final SseDecoder decoder = new SseDecoder(this::onEvent);
    private final Map<Integer, Block> blocks = new TreeMap<>();
    private long inputTokens;
    private long cacheCreationTokens;
    private long cacheReadTokens;
    private long outputTokens;
    private String stopReason;
    private long firstTokenNanos = -1;
    private boolean stopped;
    private EngineFailure failure;

    private static final class Block {
        final boolean toolUse;
        final String id;
        final String name;
        final String startInput;
        final StringBuilder text = new StringBuilder();

        Block(boolean toolUse, String id, String name, String startInput) {
            this.toolUse = toolUse;
            this.id = id;
            this.name = name;
            this.startInput = startInput;
        }
    }

    AnthropicAnswerParser(long startNanos, LongSupplier nanoTime) {
        this.startNanos = startNanos;
        this.nanoTime = nanoTime;
    }

    @Override
    public void feed(byte[] chunk) {
        decoder.feed(chunk);
    }

    @Override
    public ChatResponse finish() {
        decoder.finish();
        long latencyMs = elapsedMs(nanoTime.getAsLong());
        if (failure != null) {
            return ChatResponse.failed(failure, latencyMs);
        }
        if (!stopped && stopReason == null) {
            return ChatResponse.failed(
                    EngineFailure.other("the engine's event stream ended before message_stop", true), latencyMs);
        }
        OptionalLong ttft = firstTokenNanos < 0 ? OptionalLong.empty() : OptionalLong.of(elapsedMs(firstTokenNanos));
        return answer(ttft, latencyMs);
    }

    /** Parses a whole (non-streamed) {@code message} body. */
    static ChatResponse parseBody(String body, long startNanos, LongSupplier nanoTime) {
        AnthropicAnswerParser parser = new AnthropicAnswerParser(startNanos, nanoTime);
        long latencyMs = parser.elapsedMs(nanoTime.getAsLong());
        JsonNode root;
        try {
            root = JSON.readTree(body);
        } catch (JsonProcessingException e) {
            return ChatResponse.failed(
                    EngineFailure.other("the engine's answer is not JSON: " + EngineMessages.excerpt(body), false),
                    latencyMs);
        }
        if (root == null || !root.isObject()) {
            return ChatResponse.failed(
                    EngineFailure.other(
                            "the engine's answer is not a JSON object: " + EngineMessages.excerpt(body), false),
                    latencyMs);
        }
        if ("error".equals(root.path("type").asText())) {
            return ChatResponse.failed(errorOf(root), latencyMs);
        }
        int index = 0;
        for (JsonNode block : root.path("content")) {
            // A whole block: its text, or its tool input, is all there at the start.
            parser.startBlock(index++, block);
        }
        parser.readUsage(root.path("usage"));
        parser.stopReason = textOrNull(root.get("stop_reason"));
        return parser.answer(OptionalLong.empty(), latencyMs);
    }

    private void onEvent(String event, String data) {
        if (stopped || failure != null) {
            return;
        }
        JsonNode payload;
        try {
            payload = JSON.readTree(data);
        } catch (JsonProcessingException e) {
            failure = EngineFailure.other(
                    "the engine sent an event that is not JSON: " + EngineMessages.excerpt(data), true);
            return;
        }
        if (payload == null || !payload.isObject()) {
            failure = EngineFailure.other(
                    "the engine sent an event that is not a JSON object: " + EngineMessages.excerpt(data), true);
            return;
        }
        String type = payload.path("type").asText(event == null ? "" : event);
        switch (type) {
            case "message_start" -> readUsage(payload.path("message").path("usage"));
            case "content_block_start" ->
                startBlock(payload.path("index").asInt(blocks.size()), payload.path("content_block"));
            case "content_block_delta" -> onDelta(payload.path("index").asInt(-1), payload.path("delta"));
            case "message_delta" -> {
                String reason = textOrNull(payload.path("delta").get("stop_reason"));
                if (reason != null) {
                    stopReason = reason;
                }
                readUsage(payload.path("usage"));
            }
            case "message_stop" -> stopped = true;
            case "error" -> failure = errorOf(payload);
            default -> {
                // ping, content_block_stop, and event types added later carry nothing needed here.
            }
        }
    }

    private void startBlock(int index, JsonNode block) {
        String type = block.path("type").asText("");
        if (type.equals("tool_use")) {
            JsonNode input = block.get("input");
            String startInput =
                    input == null || input.isNull() || (input.isObject() && input.isEmpty()) ? "" : input.toString();
            blocks.put(index, new Block(true, textOrNull(block.get("id")), textOrNull(block.get("name")), startInput));
            markFirstToken();
        } else {
            // Text blocks, and blocks of other types (thinking) whose deltas are not part of the answer.
            Block text = new Block(false, null, null, "");
            if (type.equals("text")
                    && block.path("text").isTextual()
                    && !block.get("text").asText().isEmpty()) {
                // A streamed text block starts empty; any text here is the first piece.
                text.text.append(block.get("text").asText());
                markFirstToken();
            }
            blocks.put(index, text);
        }
    }

    private void onDelta(int index, JsonNode delta) {
        Block block = blocks.get(index);
        if (block == null) {
            failure = EngineFailure.other(
                    "the engine sent a content_block_delta for block " + index + " that never started", true);
            return;
        }
        switch (delta.path("type").asText("")) {
            case "text_delta" -> {
                String text = delta.path("text").asText("");
                block.text.append(text);
                if (!text.isEmpty()) {
                    markFirstToken();
                }
            }
            case "input_json_delta" ->
                block.text.append(delta.path("partial_json").asText(""));
            default -> {
                // thinking, signature and citation deltas are not part of the answer.
            }
        }
    }

    private ChatResponse answer(OptionalLong ttft, long latencyMs) {
        StringBuilder content = new StringBuilder();
        boolean sawText = false;
        List<RequestedToolCall> calls = new ArrayList<>();
        for (Block block : blocks.values()) {
            if (block.toolUse) {
                String arguments = block.text.length() > 0
                        ? block.text.toString()
                        : block.startInput.isEmpty() ? "{}" : block.startInput;
                calls.add(new RequestedToolCall(block.id, block.name, arguments));
            } else if (block.text.length() > 0) {
                content.append(block.text);
                sawText = true;
            }
        }
        TokenUsage usage = new TokenUsage(
                inputTokens + cacheCreationTokens + cacheReadTokens,
                cacheReadTokens,
                outputTokens,
                cacheCreationTokens,
                true);
        return ChatResponse.answer(
                sawText ? content.toString() : null, calls, finishReason(stopReason), usage, ttft, latencyMs);
    }

    private void readUsage(JsonNode usage) {
        if (usage == null || !usage.isObject()) {
            return;
        }
        if (usage.path("input_tokens").isNumber()) {
            inputTokens = usage.get("input_tokens").asLong();
        }
        if (usage.path("cache_creation_input_tokens").isNumber()) {
            cacheCreationTokens = usage.get("cache_creation_input_tokens").asLong();
        }
        if (usage.path("cache_read_input_tokens").isNumber()) {
            cacheReadTokens = usage.get("cache_read_input_tokens").asLong();
        }
        if (usage.path("output_tokens").isNumber()) {
            outputTokens = usage.get("output_tokens").asLong();
        }
    }

    /** Anthropic's stop reasons in the chat completions vocabulary the worker judges answers by. */
    static String finishReason(String stopReason) {
        if (stopReason == null) {
            return null;
        }
        return switch (stopReason) {
            case "end_turn", "stop_sequence" -> "stop";
            case "tool_use" -> "tool_calls";
            case "max_tokens" -> "length";
            default -> stopReason;
        };
    }

    private static EngineFailure errorOf(JsonNode payload) {
        JsonNode error = payload.path("error");
        String type = error.path("type").asText("error");
        String message = error.path("message").asText(payload.toString());
        boolean retriable = type.equals("overloaded_error") || type.equals("rate_limit_error");
        return EngineFailure.other("the engine reported " + type + ": " + EngineMessages.excerpt(message), retriable);
    }

    private void markFirstToken() {
        if (firstTokenNanos < 0) {
            firstTokenNanos = nanoTime.getAsLong();
        }
    }

    private long elapsedMs(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(Math.max(0, nanos - startNanos));
    }

    private static String textOrNull(JsonNode node) {
        return node == null || node.isNull() || node.isMissingNode() ? null : node.asText();
    }
}
