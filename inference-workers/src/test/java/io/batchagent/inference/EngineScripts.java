package io.batchagent.inference;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import mockwebserver3.MockResponse;

/**
 * Answers in each engine's own wire format, built from the same abstract script (tool calls, or a final
 * answer), so that one test can drive every engine: OpenAI-style streams (SGLang, vLLM, the OpenAI API),
 * Dynamo's stream (whole calls per delta plus its tool_call_dispatch event), Anthropic's event stream
 * (input_json_delta fragments) and Bedrock Converse's JSON.
 */
final class EngineScripts {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One tool call of a script: id, tool name, arguments JSON. */
    record Call(String id, String name, String arguments) {}

    private EngineScripts() {}

    static MockResponse toolCalls(EngineEndpoint.Kind kind, List<Call> calls) {
        return switch (kind) {
            case ANTHROPIC -> FakeEngine.sse(anthropicToolUse(calls));
            case BEDROCK -> FakeEngine.json(200, bedrock(null, calls, "tool_use"));
            case DYNAMO -> FakeEngine.sse(dynamoToolCalls(calls));
            default -> {
                String[][] table = calls.stream()
                        .map(c -> new String[] {c.id(), c.name(), c.arguments()})
                        .toArray(String[][]::new);
                yield FakeEngine.sse(OpenAiChunks.toolCallStream(table, 1900, 1792));
            }
        };
    }

    static MockResponse finalAnswer(EngineEndpoint.Kind kind, String answer) {
        return switch (kind) {
            case ANTHROPIC -> FakeEngine.sse(anthropicText(answer));
            case BEDROCK -> FakeEngine.json(200, bedrock(answer, List.of(), "end_turn"));
            default -> FakeEngine.sse(OpenAiChunks.contentStream(answer, 2100, 1900));
        };
    }

    /** A warm-up (or probe) answer reporting {@code cached} of {@code prompt} tokens cached. */
    static MockResponse warmAnswer(EngineEndpoint.Kind kind, long prompt, long cached) {
        return switch (kind) {
            case ANTHROPIC ->
                FakeEngine.json(
                        200,
                        "{\"id\":\"msg_w\",\"type\":\"message\",\"role\":\"assistant\","
                                + "\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":\"O\"}],\"stop_reason\":\"max_tokens\","
                                + "\"usage\":{\"input_tokens\":" + (prompt - cached)
                                + ",\"cache_creation_input_tokens\":0,"
                                + "\"cache_read_input_tokens\":" + cached + ",\"output_tokens\":1}}");
            default -> FakeEngine.json(200, OpenAiChunks.completion("O", prompt, cached, 1));
        };
    }

    private static String anthropicToolUse(List<Call> calls) {
        StringBuilder out = new StringBuilder();
        event(
                out,
                "message_start",
                "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_t\",\"type\":\"message\","
                        + "\"role\":\"assistant\",\"content\":[],\"model\":\"m\",\"stop_reason\":null,\"stop_sequence\":null,"
                        + "\"usage\":{\"input_tokens\":100,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":1800,"
                        + "\"output_tokens\":1}}}");
        for (int i = 0; i < calls.size(); i++) {
            Call call = calls.get(i);
            ObjectNode start =
                    JSON.createObjectNode().put("type", "content_block_start").put("index", i);
            start.putObject("content_block")
                    .put("type", "tool_use")
                    .put("id", call.id())
                    .put("name", call.name())
                    .putObject("input");
            event(out, "content_block_start", start.toString());
            String arguments = call.arguments();
            int cut = arguments.length() / 3;
            for (String piece : new String[] {"", arguments.substring(0, cut), arguments.substring(cut)}) {
                ObjectNode delta = JSON.createObjectNode()
                        .put("type", "content_block_delta")
                        .put("index", i);
                delta.putObject("delta").put("type", "input_json_delta").put("partial_json", piece);
                event(out, "content_block_delta", delta.toString());
            }
            event(out, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":" + i + "}");
        }
        event(
                out,
                "message_delta",
                "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
                        + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":40}}");
        event(out, "message_stop", "{\"type\":\"message_stop\"}");
        return out.toString();
    }

    private static String anthropicText(String text) {
        StringBuilder out = new StringBuilder();
        event(
                out,
                "message_start",
                "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_a\",\"type\":\"message\","
                        + "\"role\":\"assistant\",\"content\":[],\"model\":\"m\",\"stop_reason\":null,\"stop_sequence\":null,"
                        + "\"usage\":{\"input_tokens\":150,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":1800,"
                        + "\"output_tokens\":1}}}");
        event(
                out,
                "content_block_start",
                "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                        + "{\"type\":\"text\",\"text\":\"\"}}");
        int cut = text.length() / 2;
        for (String piece : new String[] {text.substring(0, cut), text.substring(cut)}) {
            ObjectNode delta =
                    JSON.createObjectNode().put("type", "content_block_delta").put("index", 0);
            delta.putObject("delta").put("type", "text_delta").put("text", piece);
            event(out, "content_block_delta", delta.toString());
        }
        event(out, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
        event(
                out,
                "message_delta",
                "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
                        + "\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}");
        event(out, "message_stop", "{\"type\":\"message_stop\"}");
        return out.toString();
    }

    private static String dynamoToolCalls(List<Call> calls) {
        StringBuilder out = new StringBuilder();
        List<String> data = new ArrayList<>();
        ObjectNode chunk = JSON.createObjectNode()
                .put("id", "chatcmpl-dyn")
                .put("object", "chat.completion.chunk")
                .put("created", 1733000000)
                .put("model", "qwen2.5-32b");
        ObjectNode delta = chunk.putArray("choices").addObject().put("index", 0).putObject("delta");
        delta.put("role", "assistant");
        ArrayNode toolCalls = delta.putArray("tool_calls");
        for (int i = 0; i < calls.size(); i++) {
            Call call = calls.get(i);
            ObjectNode one =
                    toolCalls.addObject().put("index", i).put("id", call.id()).put("type", "function");
            one.putObject("function").put("name", call.name()).put("arguments", call.arguments());
            ObjectNode dispatch = JSON.createObjectNode();
            dispatch.putObject("tool_call")
                    .put("id", call.id())
                    .put("type", "function")
                    .putObject("function")
                    .put("name", call.name())
                    .put("arguments", call.arguments());
            event(out, "tool_call_dispatch", dispatch.toString());
        }
        data.add(chunk.toString());
        data.add(OpenAiChunks.finish("tool_calls"));
        data.add(OpenAiChunks.usage(1900, 1792, 40));
        return out + FakeEngine.dataEvents(data.toArray(String[]::new));
    }

    private static String bedrock(String text, List<Call> calls, String stopReason) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode message = root.putObject("output").putObject("message");
        message.put("role", "assistant");
        ArrayNode content = message.putArray("content");
        if (text != null) {
            content.addObject().put("text", text);
        }
        for (Call call : calls) {
            ObjectNode use = content.addObject().putObject("toolUse");
            use.put("toolUseId", call.id()).put("name", call.name());
            try {
                use.set("input", JSON.readTree(call.arguments()));
            } catch (java.io.IOException e) {
                throw new IllegalArgumentException(e);
            }
        }
        root.put("stopReason", stopReason);
        root.putObject("usage")
                .put("inputTokens", 40)
                .put("outputTokens", 30)
                .put("totalTokens", 1870)
                .put("cacheReadInputTokens", 1800)
                .put("cacheWriteInputTokens", 0);
        root.putObject("metrics").put("latencyMs", 420);
        return root.toString();
    }

    private static void event(StringBuilder out, String name, String data) {
        out.append("event: ")
                .append(name)
                .append('\n')
                .append("data: ")
                .append(data)
                .append("\n\n");
    }
}
