package io.batchagent.inference;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.ValidationMessage;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Judges a model's final answer: finds the JSON object in it and validates it against the batch's
 * output schema.
 *
 * <p>The object is looked for, in this order: the whole answer; the inside of a {@code ```json} or
 * {@code ```} fence; the first balanced {@code {...}} that parses. Thread-safe; stateless.
 */
final class FinalAnswer {

    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final Pattern FENCE = Pattern.compile("```(?:json|JSON)?[ \\t]*\\r?\\n?(.*?)```", Pattern.DOTALL);
    private static final int MAX_MESSAGES = 20;

    /**
     * The verdict on one answer.
     *
     * @param outputJson the compact JSON to publish, when the answer is usable
     * @param problem why the answer is not usable, when it is not
     */
    record Verdict(String outputJson, String problem) {
        boolean valid() {
            return problem == null;
        }
    }

    private FinalAnswer() {}

    /**
     * @param content the model's answer, may be null
     * @param finishReason the engine's finish reason, may be null
     * @param schema the batch's compiled output schema, or null when it has none
     * @param maxTokens the batch's max_tokens, for the message when the answer was cut
     */
    static Verdict judge(String content, String finishReason, JsonSchema schema, int maxTokens) {
        boolean cut = "length".equals(finishReason);
        Optional<JsonNode> object = extractObject(content);
        if (object.isEmpty()) {
            if (cut) {
                return new Verdict(
                        null,
                        "the answer was cut at max_tokens (" + maxTokens + ") before it held a complete JSON object");
            }
            if (schema == null && content != null && !content.isBlank()) {
                // Without an output schema a plain-text answer is a valid result: publish it as a JSON string.
                return new Verdict(JSON.getNodeFactory().textNode(content).toString(), null);
            }
            return new Verdict(
                    null,
                    content == null || content.isBlank()
                            ? "the model answered with no content and no tool calls"
                            : "the answer contains no JSON object");
        }
        JsonNode node = object.get();
        if (schema != null) {
            Set<ValidationMessage> messages = schema.validate(node);
            if (!messages.isEmpty()) {
                return new Verdict(null, "the answer does not match the output schema: " + describe(messages));
            }
        }
        return new Verdict(node.toString(), null);
    }

    /** The JSON object of an answer, if any. */
    static Optional<JsonNode> extractObject(String content) {
        if (content == null || content.isBlank()) {
            return Optional.empty();
        }
        Optional<JsonNode> whole = parseObject(content.strip());
        if (whole.isPresent()) {
            return whole;
        }
        Matcher fence = FENCE.matcher(content);
        while (fence.find()) {
            Optional<JsonNode> fenced = parseObject(fence.group(1).strip());
            if (fenced.isPresent()) {
                return fenced;
            }
        }
        for (int start = content.indexOf('{'); start >= 0; start = content.indexOf('{', start + 1)) {
            int end = balancedEnd(content, start);
            if (end < 0) {
                return Optional.empty();
            }
            Optional<JsonNode> embedded = parseObject(content.substring(start, end + 1));
            if (embedded.isPresent()) {
                return embedded;
            }
        }
        return Optional.empty();
    }

    /** The index of the brace closing the one at {@code start}, minding strings; -1 if it never closes. */
    private static int balancedEnd(String text, int start) {
        int depth = 0;
        boolean inString = false;
        for (int i = start; i < text.length(); i++) {
            char c = text.charAt(i);
            if (inString) {
                if (c == '\\') {
                    i++;
                } else if (c == '"') {
                    inString = false;
                }
            } else if (c == '"') {
                inString = true;
            } else if (c == '{') {
                depth++;
            } else if (c == '}' && --depth == 0) {
                return i;
            }
        }
        return -1;
    }

    private static Optional<JsonNode> parseObject(String text) {
        if (!text.startsWith("{")) {
            return Optional.empty();
        }
        try {
            JsonNode node = JSON.readTree(text);
            return node != null && node.isObject() ? Optional.of(node) : Optional.empty();
        } catch (JsonProcessingException e) {
            return Optional.empty();
        }
    }

    private static String describe(Set<ValidationMessage> messages) {
        return messages.stream()
                        .map(ValidationMessage::getMessage)
                        .sorted()
                        .limit(MAX_MESSAGES)
                        .reduce((a, b) -> a + "; " + b)
                        .orElse("")
                + (messages.size() > MAX_MESSAGES ? "; and " + (messages.size() - MAX_MESSAGES) + " more" : "");
    }
}
