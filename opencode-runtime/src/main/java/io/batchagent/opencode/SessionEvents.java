package io.batchagent.opencode;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Optional;

/**
 * Reads the JSON event lines of {@code opencode run --format json} (opencode-ai 1.18): one object per line,
 * {@code {"type": ..., "timestamp": ..., "sessionID": ..., "part": {...}}}, of types {@code step_start},
 * {@code text} (a finished text part), {@code reasoning}, {@code tool_use} (a finished tool call with its
 * input and output), {@code step_finish} (the step's finish reason and tokens as OpenCode counted them),
 * and {@code error} ({@code {"error": {"name": ..., "data": {"message": ...}}}}).
 *
 * <p>From them it keeps: the session's answer (the text parts of its last step), the first error, counts
 * of steps and tool calls, OpenCode's own token counts, and a compact transcript (each event's kind and
 * essentials; tool outputs and texts cut to {@value #PART_CHARS} characters; the whole transcript capped,
 * after which events are counted but not kept). Lines that are not JSON objects are counted and skipped.
 *
 * <p>Fed by one thread; read after the stream ended (methods are synchronized, so a reader may look
 * while the session runs).
 */
final class SessionEvents {

    static final int PART_CHARS = 4_000;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private final int transcriptChars;
    private final ArrayNode transcript = NODES.arrayNode();
    private int keptChars;
    private int droppedEvents;
    private String sessionId;
    private final StringBuilder lastStepText = new StringBuilder();
    private String answer;
    private String error;
    private int steps;
    private int toolCalls;
    private int otherLines;
    private long inputTokens;
    private long outputTokens;
    private long cacheReadTokens;

    SessionEvents(int transcriptChars) {
        this.transcriptChars = transcriptChars;
    }

    synchronized void accept(String line) {
        if (line.isBlank()) {
            return;
        }
        JsonNode event;
        try {
            event = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            otherLines++;
            return;
        }
        if (event == null || !event.isObject()) {
            otherLines++;
            return;
        }
        if (sessionId == null && event.hasNonNull("sessionID")) {
            sessionId = event.get("sessionID").asText();
        }
        JsonNode part = event.path("part");
        String type = event.path("type").asText("");
        ObjectNode entry = NODES.objectNode().put("type", type);
        switch (type) {
            case "step_start" -> {
                steps++;
                lastStepText.setLength(0);
            }
            case "text" -> {
                String text = part.path("text").asText("");
                lastStepText.append(text);
                answer = lastStepText.toString();
                entry.put("text", cut(text));
            }
            case "reasoning" -> entry.put("text", cut(part.path("text").asText("")));
            case "tool_use" -> {
                toolCalls++;
                JsonNode state = part.path("state");
                entry.put("tool", part.path("tool").asText(""));
                entry.put("callId", part.path("callID").asText(""));
                entry.put("status", state.path("status").asText(""));
                entry.set("input", state.path("input").deepCopy());
                if (state.has("output")) {
                    entry.put("output", cut(state.path("output").asText("")));
                }
                if (state.has("error")) {
                    entry.put("error", cut(state.path("error").asText("")));
                }
            }
            case "step_finish" -> {
                JsonNode tokens = part.path("tokens");
                inputTokens += tokens.path("input").asLong(0);
                outputTokens += tokens.path("output").asLong(0);
                cacheReadTokens += tokens.path("cache").path("read").asLong(0);
                entry.put("reason", part.path("reason").asText(""));
                entry.set("tokens", tokens.deepCopy());
            }
            case "error" -> {
                JsonNode problem = event.path("error");
                String message = problem.path("data")
                        .path("message")
                        .asText(problem.path("name").asText(problem.toString()));
                if (error == null) {
                    error = message;
                }
                entry.put("message", cut(message));
            }
            default -> entry.set("event", event);
        }
        keep(entry);
    }

    private void keep(ObjectNode entry) {
        int size = entry.toString().length();
        if (keptChars + size > transcriptChars) {
            droppedEvents++;
            return;
        }
        keptChars += size;
        transcript.add(entry);
    }

    private static String cut(String text) {
        return text.length() <= PART_CHARS
                ? text
                : text.substring(0, PART_CHARS) + "... [" + (text.length() - PART_CHARS) + " more characters]";
    }

    /** The text parts of the session's last step: its answer. */
    synchronized Optional<String> answer() {
        return Optional.ofNullable(answer);
    }

    /** The first error the session reported. */
    synchronized Optional<String> error() {
        return Optional.ofNullable(error);
    }

    synchronized Optional<String> sessionId() {
        return Optional.ofNullable(sessionId);
    }

    synchronized int steps() {
        return steps;
    }

    synchronized int toolCalls() {
        return toolCalls;
    }

    synchronized int otherLines() {
        return otherLines;
    }

    /** The compact transcript, and how many events did not fit into it. */
    synchronized ObjectNode transcript() {
        ObjectNode node = NODES.objectNode();
        node.set("events", transcript.deepCopy());
        node.put("droppedEvents", droppedEvents);
        return node;
    }

    /** Tokens as OpenCode counted them over its steps: input (uncached), output, cache reads. */
    synchronized ObjectNode openCodeTokens() {
        return NODES.objectNode()
                .put("input", inputTokens)
                .put("output", outputTokens)
                .put("cacheRead", cacheReadTokens);
    }
}
