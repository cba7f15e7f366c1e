package io.batchagent.bench.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;

/**
 * One chat completion that passed through the {@link RecordingProxy}: when it arrived, when its
 * first token and its last byte left, and the usage the engine reported. Times are
 * {@link System#nanoTime()} readings of the driver's JVM; 0 where an event did not happen.
 *
 * @param tag the label the driver had set when the call arrived (a condition, or "warmup")
 * @param arrivedNanos when the proxy got the request
 * @param firstTokenNanos when the first non-empty content or tool-call delta came from the engine
 * @param endNanos when the last byte of the answer was handed on to the caller
 * @param status the engine's HTTP status, 0 when it never answered
 * @param promptTokens the engine's usage figures; -1 when it reported none
 * @param cachedTokens prompt tokens served from the engine's prefix cache; -1 when not reported
 * @param completionTokens tokens generated; -1 when not reported
 * @param finishReason the last finish reason in the answer, or null
 * @param agentKey what identifies the agent: the content of the first user message ("" when there is none)
 * @param turn the agent's model call number: 1 + the assistant messages already in the conversation
 */
public record ModelCall(
        String tag,
        long arrivedNanos,
        long firstTokenNanos,
        long endNanos,
        int status,
        long promptTokens,
        long cachedTokens,
        long completionTokens,
        String finishReason,
        String agentKey,
        int turn) {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A call whose identity (agent and turn) is read from its request body. */
    public static ModelCall of(
            String tag,
            long arrivedNanos,
            long firstTokenNanos,
            long endNanos,
            int status,
            long promptTokens,
            long cachedTokens,
            long completionTokens,
            String finishReason,
            byte[] requestBody) {
        Parsed parsed = parse(requestBody);
        return new ModelCall(
                tag,
                arrivedNanos,
                firstTokenNanos,
                endNanos,
                status,
                promptTokens,
                cachedTokens,
                completionTokens,
                finishReason,
                parsed.agentKey(),
                parsed.turn());
    }

    /**
     * A warm-up: the driver's (tagged so) or the inference worker's, recognised by having no user
     * message (a batch's shared prefix alone).
     */
    public boolean warmup() {
        return tag.equals("warmup") || agentKey.isEmpty();
    }

    /** Milliseconds from arrival to first token, or NaN without one. */
    public double ttftMs() {
        return firstTokenNanos == 0 ? Double.NaN : (firstTokenNanos - arrivedNanos) / 1e6;
    }

    /** Milliseconds from arrival to the end of the answer. */
    public double latencyMs() {
        return (endNanos - arrivedNanos) / 1e6;
    }

    /** Prompt tokens the engine computed (not served from cache); 0 when usage was not reported. */
    public long prefillTokens() {
        return promptTokens < 0 ? 0 : promptTokens - Math.max(0, cachedTokens);
    }

    public boolean ok() {
        return status == 200;
    }

    private record Parsed(String agentKey, int turn) {}

    private static Parsed parse(byte[] requestBody) {
        try {
            JsonNode root = JSON.readTree(requestBody);
            String key = "";
            int assistants = 0;
            for (JsonNode message : root.path("messages")) {
                String role = message.path("role").asText();
                if (role.equals("user") && key.isEmpty()) {
                    key = message.path("content").asText("");
                } else if (role.equals("assistant")) {
                    assistants++;
                }
            }
            return new Parsed(key, assistants + 1);
        } catch (IOException e) {
            return new Parsed("", 0);
        }
    }
}
