package io.batchagent.schemas;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A per-job message template with {@code {name}} placeholders filled from the job's input object,
 * as Python's {@code str.format} does ({@code {{} and {@code }}} are literal braces).
 * String values are inserted as they are; other JSON values as compact JSON.
 *
 * <p>Immutable and thread-safe.
 */
public final class TaskTemplate {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The input does not fit the template; the message names what is wrong. */
    public static final class RenderException extends Exception {
        private final boolean missingVariable;

        RenderException(String message, boolean missingVariable) {
            super(message);
            this.missingVariable = missingVariable;
        }

        /** True for a missing template variable, false for input that is not a JSON object. */
        public boolean missingVariable() {
            return missingVariable;
        }
    }

    private sealed interface Part permits Literal, Variable {}

    private record Literal(String text) implements Part {}

    private record Variable(String name) implements Part {}

    private final List<Part> parts;
    private final Set<String> variables;

    private TaskTemplate(List<Part> parts) {
        this.parts = List.copyOf(parts);
        Set<String> names = new LinkedHashSet<>();
        parts.forEach(p -> {
            if (p instanceof Variable v) names.add(v.name());
        });
        this.variables = Set.copyOf(names);
    }

    /**
     * Parses a template.
     *
     * @throws IllegalArgumentException for an unbalanced brace or an empty placeholder
     */
    public static TaskTemplate parse(String template) {
        List<Part> parts = new ArrayList<>();
        StringBuilder literal = new StringBuilder();
        for (int i = 0; i < template.length(); i++) {
            char c = template.charAt(i);
            if (c == '{' && i + 1 < template.length() && template.charAt(i + 1) == '{') {
                literal.append('{');
                i++;
            } else if (c == '}' && i + 1 < template.length() && template.charAt(i + 1) == '}') {
                literal.append('}');
                i++;
            } else if (c == '{') {
                int end = template.indexOf('}', i);
                if (end < 0) {
                    throw new IllegalArgumentException("unclosed '{' at position " + i + " of the task template");
                }
                String name = template.substring(i + 1, end).trim();
                if (name.isEmpty()) {
                    throw new IllegalArgumentException(
                            "empty placeholder '{}' at position " + i + " of the task template");
                }
                if (literal.length() > 0) {
                    parts.add(new Literal(literal.toString()));
                    literal.setLength(0);
                }
                parts.add(new Variable(name));
                i = end;
            } else if (c == '}') {
                throw new IllegalArgumentException(
                        "single '}' at position " + i + " of the task template; write '}}' for a literal brace");
            } else {
                literal.append(c);
            }
        }
        if (literal.length() > 0) {
            parts.add(new Literal(literal.toString()));
        }
        return new TaskTemplate(parts);
    }

    /** The placeholder names, in order of first appearance. */
    public Set<String> variables() {
        return variables;
    }

    /**
     * Fills the template from a JSON object.
     *
     * @throws RenderException naming every missing variable, or if the input is not a JSON object
     */
    public String render(String inputJson) throws RenderException {
        return render(inputJson, Map.of());
    }

    /**
     * Fills the template from a JSON object, except that each variable in {@code fixed} is rendered
     * as the given text (hoisted variables: their value lives once in the shared prefix).
     *
     * @throws RenderException naming every missing variable, or if the input is not a JSON object
     */
    public String render(String inputJson, Map<String, String> fixed) throws RenderException {
        ObjectNode input;
        try {
            JsonNode node = JSON.readTree(inputJson);
            if (!(node instanceof ObjectNode object)) {
                throw new RenderException(
                        "the job input must be a JSON object, got "
                                + (node == null
                                        ? "nothing"
                                        : node.getNodeType().toString().toLowerCase()),
                        false);
            }
            input = object;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new RenderException("the job input is not valid JSON: " + e.getOriginalMessage(), false);
        }
        List<String> missing = variables.stream()
                .filter(v -> !input.has(v) && !fixed.containsKey(v))
                .sorted()
                .toList();
        if (!missing.isEmpty()) {
            List<String> present = new ArrayList<>();
            Iterator<String> names = input.fieldNames();
            names.forEachRemaining(present::add);
            throw new RenderException(
                    (missing.size() == 1
                                    ? "template variable '" + missing.get(0) + "' is missing"
                                    : "template variables " + missing + " are missing")
                            + " from the job input (it has: " + String.join(", ", present) + ")",
                    true);
        }
        StringBuilder out = new StringBuilder();
        for (Part part : parts) {
            if (part instanceof Literal l) {
                out.append(l.text());
            } else if (part instanceof Variable v && fixed.containsKey(v.name())) {
                out.append(fixed.get(v.name()));
            } else if (part instanceof Variable v) {
                JsonNode value = input.get(v.name());
                out.append(value.isTextual() ? value.asText() : value.toString());
            }
        }
        return out.toString();
    }
}
