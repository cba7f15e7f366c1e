package io.batchagent.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Set;
import java.util.function.Function;

/** Reading engines' error answers and retry hints, the same way for every engine. Stateless. */
final class EngineMessages {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int EXCERPT_CHARS = 512;

    /**
     * HTTP statuses worth another attempt: rate limits (429), a server error (500: the official OpenAI
     * and Anthropic SDKs retry every 5xx, and an engine's 500 is often a passing fault of one batch
     * step), gateways (502, 504), overload (503, Anthropic's 529).
     */
    static final Set<Integer> RETRIED_STATUSES = Set.of(429, 500, 502, 503, 504, 529);

    private EngineMessages() {}

    /**
     * The engine's own message in an error body: {@code error.message} (OpenAI, SGLang, vLLM, Anthropic),
     * a top-level {@code message} (older vLLM, Bedrock), FastAPI's {@code detail}; else an excerpt of the body.
     */
    static String engineMessage(String body) {
        if (body == null || body.isBlank()) {
            return "(empty body)";
        }
        try {
            JsonNode root = JSON.readTree(body);
            if (root != null && root.isObject()) {
                JsonNode error = root.get("error");
                if (error != null && error.isObject() && error.path("message").isTextual()) {
                    return excerpt(error.get("message").asText());
                }
                if (error != null && error.isTextual()) {
                    return excerpt(error.asText());
                }
                if (root.path("message").isTextual()) {
                    return excerpt(root.get("message").asText());
                }
                if (root.path("Message").isTextual()) {
                    return excerpt(root.get("Message").asText());
                }
                JsonNode detail = root.get("detail");
                if (detail != null && !detail.isNull()) {
                    return excerpt(detail.isTextual() ? detail.asText() : detail.toString());
                }
            }
        } catch (java.io.IOException e) {
            // Not JSON: the excerpt below says what it was.
        }
        return excerpt(body);
    }

    /** An excerpt of an engine's answer for error messages: at most 512 characters, on one line. */
    static String excerpt(String body) {
        if (body == null || body.isBlank()) {
            return "(empty body)";
        }
        String oneLine = body.strip().replaceAll("\\s+", " ");
        return oneLine.length() <= EXCERPT_CHARS ? oneLine : oneLine.substring(0, EXCERPT_CHARS) + "...";
    }

    /**
     * The wait an answer asks for: {@code retry-after-ms} (the OpenAI API), else {@code Retry-After} in
     * seconds or as an HTTP date; null when there is none or it cannot be read.
     *
     * @param header the response's headers, case-insensitive
     */
    static Duration retryAfter(Function<String, String> header) {
        String millis = header.apply("retry-after-ms");
        if (millis != null) {
            try {
                return Duration.ofMillis(Math.max(0, Math.round(Double.parseDouble(millis.trim()))));
            } catch (NumberFormatException e) {
                // Fall through to Retry-After.
            }
        }
        String value = header.apply("retry-after");
        if (value == null || value.isBlank()) {
            return null;
        }
        String text = value.trim();
        try {
            return Duration.ofMillis(Math.max(0, Math.round(Double.parseDouble(text) * 1000)));
        } catch (NumberFormatException e) {
            try {
                ZonedDateTime at = ZonedDateTime.parse(text, DateTimeFormatter.RFC_1123_DATE_TIME);
                Duration wait = Duration.between(ZonedDateTime.now(at.getZone()), at);
                return wait.isNegative() ? Duration.ZERO : wait;
            } catch (DateTimeParseException unreadable) {
                return null;
            }
        }
    }
}
