package io.batchagent.inference;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Chunks of an OpenAI chat completions event stream, in the shape vLLM, SGLang, Dynamo and the OpenAI API
 * send ({@code chat.completion.chunk}; usage in a last chunk with empty choices when asked for).
 */
final class OpenAiChunks {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String ID = "chatcmpl-rec";

    private OpenAiChunks() {}

    static String role() {
        ObjectNode delta = JSON.createObjectNode().put("role", "assistant").put("content", "");
        return chunk(delta, null);
    }

    static String content(String text) {
        return chunk(JSON.createObjectNode().put("content", text), null);
    }

    /** The first fragment of a tool call: index, id, type, name and the first piece of its arguments. */
    static String toolStart(int index, String id, String name, String arguments) {
        ObjectNode delta = JSON.createObjectNode();
        ObjectNode call = delta.putArray("tool_calls").addObject();
        call.put("index", index).put("id", id).put("type", "function");
        call.putObject("function").put("name", name).put("arguments", arguments);
        return chunk(delta, null);
    }

    /** A later fragment: the index and a piece of the arguments. */
    static String toolArguments(int index, String arguments) {
        ObjectNode delta = JSON.createObjectNode();
        delta.putArray("tool_calls")
                .addObject()
                .put("index", index)
                .putObject("function")
                .put("arguments", arguments);
        return chunk(delta, null);
    }

    static String finish(String reason) {
        return chunk(JSON.createObjectNode(), reason);
    }

    static String usage(long prompt, long cached, long completion) {
        ObjectNode root = header();
        root.putArray("choices");
        ObjectNode usage = root.putObject("usage");
        usage.put("prompt_tokens", prompt)
                .put("completion_tokens", completion)
                .put("total_tokens", prompt + completion);
        usage.putObject("prompt_tokens_details").put("cached_tokens", cached);
        return root.toString();
    }

    /** A non-streamed answer with content, usage reporting cached tokens (or not, when {@code cached} is negative). */
    static String completion(String content, long prompt, long cached, long completion) {
        ObjectNode root = JSON.createObjectNode()
                .put("id", ID)
                .put("object", "chat.completion")
                .put("created", 1733000000)
                .put("model", "qwen2.5-32b");
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        choice.putObject("message").put("role", "assistant").put("content", content);
        choice.put("finish_reason", "length");
        ObjectNode usage = root.putObject("usage");
        usage.put("prompt_tokens", prompt)
                .put("completion_tokens", completion)
                .put("total_tokens", prompt + completion);
        if (cached >= 0) {
            usage.putObject("prompt_tokens_details").put("cached_tokens", cached);
        } else {
            usage.putNull("prompt_tokens_details");
        }
        return root.toString();
    }

    /** A whole streamed answer of parallel tool calls, each call's arguments split in two fragments. */
    static String toolCallStream(String[][] calls, long prompt, long cached) {
        java.util.List<String> events = new java.util.ArrayList<>();
        events.add(role());
        for (int i = 0; i < calls.length; i++) {
            String arguments = calls[i][2];
            int cut = arguments.length() / 2;
            events.add(toolStart(i, calls[i][0], calls[i][1], arguments.substring(0, cut)));
            events.add(toolArguments(i, arguments.substring(cut)));
        }
        events.add(finish("tool_calls"));
        events.add(usage(prompt, cached, 20));
        return FakeEngine.dataEvents(events.toArray(String[]::new));
    }

    /** A whole streamed content answer, split in two pieces. */
    static String contentStream(String answer, long prompt, long cached) {
        int cut = answer.length() / 2;
        return FakeEngine.dataEvents(
                role(),
                content(answer.substring(0, cut)),
                content(answer.substring(cut)),
                finish("stop"),
                usage(prompt, cached, 12));
    }

    private static String chunk(ObjectNode delta, String finishReason) {
        ObjectNode root = header();
        ObjectNode choice = root.putArray("choices").addObject();
        choice.put("index", 0);
        choice.set("delta", delta);
        choice.putNull("logprobs");
        if (finishReason == null) {
            choice.putNull("finish_reason");
        } else {
            choice.put("finish_reason", finishReason);
        }
        return root.toString();
    }

    private static ObjectNode header() {
        return JSON.createObjectNode()
                .put("id", ID)
                .put("object", "chat.completion.chunk")
                .put("created", 1733000000)
                .put("model", "qwen2.5-32b");
    }
}
