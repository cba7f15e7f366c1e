package io.batchagent.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Measures, per batch, the prefix that the first model calls of its sessions have in common.
 *
 * <p>A call is compared in the order chat templates lay a prompt out for the engine: the leading system
 * (or developer) messages, then the tool definitions, then the rest of the conversation (role, content,
 * tool calls). The first session's first call of a batch is the reference; each later session keeps only
 * the length of its common prefix with it, so memory per session is constant. The common prefix of all
 * sessions is the least of those lengths (the reference is one of them).
 *
 * <p>Thread-safe.
 */
final class PrefixSharing {

    private static final class Batch {
        final String reference;
        int sessions;
        long minCommon = Long.MAX_VALUE;
        long totalChars;
        long totalTokens;

        Batch(String reference) {
            this.reference = reference;
        }
    }

    private final Map<String, Batch> batches = new ConcurrentHashMap<>();

    /** Records a session's first call: its rendering and the prompt tokens the engine counted for it. */
    void recordFirstCall(String batchId, String rendering, long promptTokens) {
        Batch batch = batches.computeIfAbsent(batchId, id -> new Batch(rendering));
        synchronized (batch) {
            batch.sessions++;
            batch.minCommon = Math.min(batch.minCommon, commonPrefix(batch.reference, rendering));
            batch.totalChars += rendering.length();
            batch.totalTokens += promptTokens;
        }
    }

    PrefixReport report(String batchId) {
        Batch batch = batches.get(batchId);
        if (batch == null) {
            return new PrefixReport(batchId, 0, 0, 0, 0, 0);
        }
        synchronized (batch) {
            double meanChars = (double) batch.totalChars / batch.sessions;
            long tokens = batch.totalChars == 0
                    ? 0
                    : Math.round(batch.minCommon * ((double) batch.totalTokens / batch.totalChars));
            return new PrefixReport(
                    batchId,
                    batch.sessions,
                    batch.minCommon,
                    meanChars,
                    tokens,
                    (double) batch.totalTokens / batch.sessions);
        }
    }

    void forget(String batchId) {
        batches.remove(batchId);
    }

    /** The prompt of a chat completions request in the order an engine's chat template renders it. */
    static String render(JsonNode body) {
        StringBuilder text = new StringBuilder();
        JsonNode messages = body.path("messages");
        int i = 0;
        for (; i < messages.size(); i++) {
            String role = messages.get(i).path("role").asText("");
            if (!role.equals("system") && !role.equals("developer")) {
                break;
            }
            text.append("<system>").append(content(messages.get(i).get("content")));
        }
        for (JsonNode tool : body.path("tools")) {
            text.append("<tool>").append(tool.toString());
        }
        for (; i < messages.size(); i++) {
            JsonNode message = messages.get(i);
            text.append('<')
                    .append(message.path("role").asText(""))
                    .append('>')
                    .append(content(message.get("content")));
            if (message.has("tool_calls")) {
                text.append(message.get("tool_calls").toString());
            }
        }
        return text.toString();
    }

    private static String content(JsonNode content) {
        if (content == null || content.isNull()) {
            return "";
        }
        if (content.isTextual()) {
            return content.asText();
        }
        StringBuilder parts = new StringBuilder();
        for (JsonNode part : content) {
            parts.append(part.path("text").asText(part.toString()));
        }
        return parts.toString();
    }

    static int commonPrefix(String a, String b) {
        int n = Math.min(a.length(), b.length());
        int i = 0;
        while (i < n && a.charAt(i) == b.charAt(i)) {
            i++;
        }
        return i;
    }
}
