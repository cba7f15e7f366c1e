package io.batchagent.simulator;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The SIMULATED engine's "model": a deterministic script, not a language model. The same request
 * always gets the same answer.
 *
 * <ul>
 *   <li>A request whose last message is a user message starting with {@value #COMPACTION_REQUEST} (the
 *       inference worker asking for a summary of old tool results) is answered with a short plain-text
 *       summary naming how many tool results the conversation holds.</li>
 *   <li>A request that offers tools (and {@code tool_choice} is not {@code none}) and has fewer
 *       assistant tool calls than the script's tool turns (one unless configured; so, by default, no
 *       {@code tool} message yet) is answered with one tool call chosen by the {@link ToolCallRule}
 *       ({@code finish_reason} {@code tool_calls}). A rule that returns empty makes it answer
 *       directly, unless {@code tool_choice} is {@code required} or names a function, when the
 *       default rule decides.</li>
 *   <li>Otherwise it answers with compact JSON valid against the schema: the request's
 *       {@code response_format.json_schema.schema}, else the first block in a system message that
 *       starts with {@value #SCHEMA_FENCE_OPEN} and ends with {@value #SCHEMA_FENCE_CLOSE}, else
 *       {@code {"answer": "..."}}. Values come from {@link SchemaValueGenerator}, with the
 *       {@code Name: value} lines of the first user message as fields.</li>
 * </ul>
 *
 * <p>With a variation seed ({@link SimulatorOptions#varyAnswersSeed()}) the script stops being
 * deterministic, as a real model is not: after its first tool result it calls a second offered tool
 * (one not yet called, with default arguments) on about half the calls, and every answer carries a
 * per-call random part. Two calls for the same turn then differ, so a turn that runs twice shows.
 *
 * <p>Thread-safe when the rule is.
 */
final class ScriptedModel {

    static final String SCHEMA_FENCE_OPEN = "```json\n";
    static final String SCHEMA_FENCE_CLOSE = "\n```";
    /** How the inference worker's summary requests begin (its ConversationCompactor.SUMMARY_INSTRUCTION). */
    static final String COMPACTION_REQUEST = "[compaction]";

    private static final Logger LOGGER = LoggerFactory.getLogger(ScriptedModel.class);

    private final ToolCallRule toolCallRule;
    private final int invalidAnswers;
    private final SplittableRandom variation;
    private final int toolTurns;

    ScriptedModel(ToolCallRule toolCallRule) {
        this(toolCallRule, 0, null, 1);
    }

    /**
     * @param invalidAnswers final answers per conversation that miss the schema before a valid one
     * @param varySeed null for a deterministic script; else seeds the per-call variation
     * @param toolTurns the tool turns taken before answering
     */
    ScriptedModel(ToolCallRule toolCallRule, int invalidAnswers, Long varySeed, int toolTurns) {
        this.toolTurns = toolTurns;
        this.toolCallRule = toolCallRule;
        this.invalidAnswers = invalidAnswers;
        this.variation = varySeed == null ? null : new SplittableRandom(varySeed);
    }

    /** A generator for one call, or null when the script is deterministic. */
    private SplittableRandom nextVariation() {
        if (variation == null) {
            return null;
        }
        synchronized (variation) {
            return variation.split();
        }
    }

    /** The model's full, untruncated output for {@code request}. */
    ScriptedOutput respond(ChatRequest request) {
        if (isCompactionRequest(request)) {
            long results = request.messages().stream()
                    .filter(m -> m.role().equals("tool"))
                    .count();
            return ScriptedOutput.content(
                    "Simulated summary: the " + results + " earlier tool results found what the " + "task asked for.");
        }
        SplittableRandom random = nextVariation();
        Optional<ToolInvocation> call = chooseToolCall(request);
        if (call.isEmpty() && random != null) {
            call = secondToolCall(request, random);
        }
        if (call.isPresent()) {
            String arguments = Json.write(call.get().arguments());
            String name = call.get().name();
            return ScriptedOutput.toolCall(name, arguments, toolCallId(request, name, arguments));
        }
        long earlierAnswers = request.messages().stream()
                .filter(m -> m.role().equals("assistant") && m.toolCalls().isEmpty())
                .count();
        if (earlierAnswers < invalidAnswers) {
            // Scripted to be wrong: JSON that satisfies no schema with required fields.
            return ScriptedOutput.content("{\"simulated_wrong_answer\": " + (earlierAnswers + 1) + "}");
        }
        return ScriptedOutput.content(Json.write(answer(request, random)));
    }

    /**
     * In varied mode, after exactly one tool result: on about half the calls, a call to an offered
     * tool not called yet, with default arguments.
     */
    private static Optional<ToolInvocation> secondToolCall(ChatRequest request, SplittableRandom random) {
        if (request.tools().size() < 2 || request.toolChoice() == ChatRequest.ToolChoice.NONE) {
            return Optional.empty();
        }
        long toolResults =
                request.messages().stream().filter(m -> m.role().equals("tool")).count();
        if (toolResults != 1 || !random.nextBoolean()) {
            return Optional.empty();
        }
        java.util.Set<String> called = new java.util.HashSet<>();
        request.messages().forEach(m -> m.toolCalls().forEach(c -> called.add(c.name())));
        ToolCallContext context = new ToolCallContext(request.tools(), request.messages());
        return request.tools().stream()
                .filter(t -> !called.contains(t.name()))
                .findFirst()
                .map(t -> new ToolInvocation(t.name(), ToolCallRule.defaultArguments(t, context)));
    }

    private static boolean isCompactionRequest(ChatRequest request) {
        List<ChatMessage> messages = request.messages();
        if (messages.isEmpty()) {
            return false;
        }
        ChatMessage last = messages.get(messages.size() - 1);
        return last.role().equals("user") && last.content().startsWith(COMPACTION_REQUEST);
    }

    private Optional<ToolInvocation> chooseToolCall(ChatRequest request) {
        long toolCalls = request.messages().stream()
                .filter(m -> !m.toolCalls().isEmpty())
                .count();
        boolean moreTurns = toolTurns > 1 ? toolCalls < toolTurns : toolTurns == 1 && !request.hasToolMessage();
        if (request.tools().isEmpty() || request.toolChoice() == ChatRequest.ToolChoice.NONE || !moreTurns) {
            return Optional.empty();
        }
        List<ToolSpec> tools = request.forcedTool() == null
                ? request.tools()
                : request.tools().stream()
                        .filter(t -> t.name().equals(request.forcedTool()))
                        .toList();
        ToolCallContext context = new ToolCallContext(tools, request.messages());
        Optional<ToolInvocation> chosen = toolCallRule.choose(context);
        if (chosen.isEmpty() && request.toolChoice() != ChatRequest.ToolChoice.AUTO) {
            return ToolCallRule.defaultRule().choose(context);
        }
        if (chosen.isPresent()
                && request.forcedTool() != null
                && !chosen.get().name().equals(request.forcedTool())) {
            return ToolCallRule.defaultRule().choose(context);
        }
        return chosen;
    }

    private static JsonNode answer(ChatRequest request, SplittableRandom random) {
        String salt = random == null ? "" : "|" + Long.toHexString(random.nextLong());
        String firstUser = request.messages().stream()
                .filter(m -> m.role().equals("user"))
                .map(ChatMessage::content)
                .findFirst()
                .orElse("");
        JsonNode schema = request.responseSchema() != null ? request.responseSchema() : schemaFromSystem(request);
        if (schema == null) {
            ObjectNode answer = Json.NODES.objectNode();
            String firstLine = firstUser.strip().lines().findFirst().orElse("");
            answer.put(
                    "answer",
                    "simulated answer for: "
                            + (firstLine.length() > 60 ? firstLine.substring(0, 60) : firstLine)
                            + (salt.isEmpty() ? "" : " " + salt.substring(1)));
            return answer;
        }
        Map<String, String> fields = SchemaValueGenerator.fields(firstUser);
        return new SchemaValueGenerator(
                        schema,
                        fields,
                        name -> "simulated " + SchemaValueGenerator.normalize(name) + " "
                                + SchemaValueGenerator.shortHash(firstUser + "|" + name + salt))
                .generate();
    }

    /** The schema fenced in a system message, or null. */
    static JsonNode schemaFromSystem(ChatRequest request) {
        for (ChatMessage message : request.messages()) {
            if (!message.role().equals("system") && !message.role().equals("developer")) {
                continue;
            }
            String content = message.content();
            int open = content.indexOf(SCHEMA_FENCE_OPEN);
            if (open < 0) {
                continue;
            }
            int start = open + SCHEMA_FENCE_OPEN.length();
            int close = content.indexOf(SCHEMA_FENCE_CLOSE, start);
            if (close < 0) {
                continue;
            }
            String text = content.substring(start, close);
            try {
                JsonNode schema = Json.MAPPER.readTree(text);
                if (schema != null && schema.isObject()) {
                    return schema;
                }
            } catch (JsonProcessingException e) {
                LOGGER.warn(
                        "Schema block in the system message is not JSON; answering without a schema: {}",
                        e.getOriginalMessage());
            }
            return null;
        }
        return null;
    }

    private static String toolCallId(ChatRequest request, String name, String arguments) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            for (ChatMessage message : request.messages()) {
                digest.update(message.role().getBytes(StandardCharsets.UTF_8));
                digest.update((byte) 0);
                digest.update(message.content().getBytes(StandardCharsets.UTF_8));
                digest.update((byte) 0);
            }
            digest.update(name.getBytes(StandardCharsets.UTF_8));
            digest.update((byte) 0);
            digest.update(arguments.getBytes(StandardCharsets.UTF_8));
            return "call_" + HexFormat.of().formatHex(digest.digest(), 0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JVM", e);
        }
    }

    /**
     * The model's raw output text; for a tool call, also its parts.
     *
     * @param text the raw output: the answer, or the rendered {@code <tool_call>} block
     * @param toolName the called function, or null for a content answer
     * @param arguments the arguments JSON, or null
     * @param toolCallId the call id, or null
     */
    record ScriptedOutput(String text, String toolName, String arguments, String toolCallId) {

        static ScriptedOutput content(String text) {
            return new ScriptedOutput(text, null, null, null);
        }

        static ScriptedOutput toolCall(String name, String arguments, String id) {
            return new ScriptedOutput(ChatTemplate.toolCallText(name, arguments), name, arguments, id);
        }

        boolean isToolCall() {
            return toolName != null;
        }
    }
}
