package io.batchagent.simulator;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Renders a request into the prompt the SIMULATED engine "sees", in the manner of Qwen2.5's chat
 * template, and tokenizes it with {@link Tokenizer}.
 *
 * <p>Layout: a system block ({@code <|im_start|>system\n...<|im_end|>\n}) holding the first
 * message when it is a system or developer message (else Qwen's default system line), followed,
 * when tools are offered, by the {@code # Tools} section with one compact JSON line per tool, in
 * request order and with the request's key order; then one block per further message; assistant
 * tool calls as {@code <tool_call>\n{"name": "...", "arguments": ...}\n</tool_call>}; consecutive
 * tool results as one user block of {@code <tool_response>} sections; then the generation prompt
 * {@code <|im_start|>assistant\n}. The scripted model's output for a tool call is exactly the
 * text this template renders for that call, so a follow-up turn can hit the cache across it.
 *
 * <p>Every block starts with a special token, so tokenizing block by block gives the same tokens
 * as tokenizing the whole text; long blocks (a shared system prompt) are memoised, so sibling
 * requests tokenize their common prefix once. Thread-safe.
 */
final class ChatTemplate {

    static final String DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
    static final String GENERATION_PROMPT = "<|im_start|>assistant\n";

    private static final String TOOLS_HEADER = "\n\n# Tools\n\nYou may call one or more functions to assist with the "
            + "user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>";
    private static final String TOOLS_FOOTER = "\n</tools>\n\nFor each function call, return a json object with "
            + "function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
            + "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>";
    private static final int MEMO_MIN_CHARS = 512;
    private static final int MEMO_ENTRIES = 256;

    private final Map<String, int[]> memo = new LinkedHashMap<>(MEMO_ENTRIES, 0.75f, true) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, int[]> eldest) {
            return size() > MEMO_ENTRIES;
        }
    };

    /** The rendered prompt's token ids. */
    int[] promptTokens(ChatRequest request) {
        List<String> blocks = blocks(request);
        List<int[]> parts = new ArrayList<>(blocks.size());
        int total = 0;
        for (String block : blocks) {
            int[] ids = tokens(block);
            parts.add(ids);
            total += ids.length;
        }
        int[] out = new int[total];
        int at = 0;
        for (int[] part : parts) {
            System.arraycopy(part, 0, out, at, part.length);
            at += part.length;
        }
        return out;
    }

    /** The rendered prompt as text. */
    String render(ChatRequest request) {
        return String.join("", blocks(request));
    }

    /** The text of one tool call as the template renders it (and the scripted model emits it). */
    static String toolCallText(String name, String arguments) {
        return "<tool_call>\n{\"name\": \"" + name + "\", \"arguments\": " + arguments + "}\n</tool_call>";
    }

    /** Offset of the arguments inside {@link #toolCallText}. */
    static int argumentsOffset(String name) {
        return ("<tool_call>\n{\"name\": \"" + name + "\", \"arguments\": ").length();
    }

    private int[] tokens(String block) {
        if (block.length() < MEMO_MIN_CHARS) {
            return Tokenizer.encode(block);
        }
        synchronized (memo) {
            int[] cached = memo.get(block);
            if (cached != null) {
                return cached;
            }
        }
        int[] ids = Tokenizer.encode(block);
        synchronized (memo) {
            memo.put(block, ids);
        }
        return ids;
    }

    private static List<String> blocks(ChatRequest request) {
        List<ChatMessage> messages = request.messages();
        List<String> blocks = new ArrayList<>(messages.size() + 2);
        int first = 0;
        String system = DEFAULT_SYSTEM;
        if (!messages.isEmpty() && isSystem(messages.get(0))) {
            system = messages.get(0).content();
            first = 1;
        }
        StringBuilder systemBlock = new StringBuilder("<|im_start|>system\n").append(system);
        if (!request.toolDefinitions().isEmpty()) {
            systemBlock.append(TOOLS_HEADER);
            for (JsonNode tool : request.toolDefinitions()) {
                systemBlock.append('\n').append(Json.write(tool));
            }
            systemBlock.append(TOOLS_FOOTER);
        }
        blocks.add(systemBlock.append("<|im_end|>\n").toString());

        for (int i = first; i < messages.size(); i++) {
            ChatMessage message = messages.get(i);
            if (message.role().equals("tool")) {
                StringBuilder block = new StringBuilder("<|im_start|>user");
                while (i < messages.size() && messages.get(i).role().equals("tool")) {
                    block.append("\n<tool_response>\n")
                            .append(messages.get(i).content())
                            .append("\n</tool_response>");
                    i++;
                }
                i--;
                blocks.add(block.append("<|im_end|>\n").toString());
            } else if (message.role().equals("assistant")) {
                StringBuilder block = new StringBuilder("<|im_start|>assistant\n").append(message.content());
                for (int c = 0; c < message.toolCalls().size(); c++) {
                    ChatMessage.ToolCallMessage call = message.toolCalls().get(c);
                    if (c > 0 || !message.content().isEmpty()) {
                        block.append('\n');
                    }
                    block.append(toolCallText(call.name(), call.arguments()));
                }
                blocks.add(block.append("<|im_end|>\n").toString());
            } else {
                String role = isSystem(message) ? "system" : message.role();
                blocks.add("<|im_start|>" + role + "\n" + message.content() + "<|im_end|>\n");
            }
        }
        blocks.add(GENERATION_PROMPT);
        return blocks;
    }

    private static boolean isSystem(ChatMessage message) {
        return message.role().equals("system") || message.role().equals("developer");
    }
}
