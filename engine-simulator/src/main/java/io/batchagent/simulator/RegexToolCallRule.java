package io.batchagent.simulator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link ToolCallRule#parse(String)} rule: per tool parameter, a regular expression over the
 * last user message. Immutable and thread-safe.
 */
final class RegexToolCallRule implements ToolCallRule {

    private static final Logger LOGGER = LoggerFactory.getLogger(RegexToolCallRule.class);
    private static final Pattern ENTRY_SEPARATOR = Pattern.compile(",(?=\\s*[\\w-]+\\.[\\w-]+\\s*=)");
    private static final Pattern ENTRY = Pattern.compile("\\s*([\\w-]+)\\.([\\w-]+)\\s*=(.*)", Pattern.DOTALL);
    private static final String TEMPLATE_SEPARATOR = "=>";

    private final String spec;
    private final Map<String, List<Entry>> entriesByTool;

    private RegexToolCallRule(String spec, Map<String, List<Entry>> entriesByTool) {
        this.spec = spec;
        this.entriesByTool = entriesByTool;
    }

    static RegexToolCallRule parse(String spec) {
        if (spec == null || spec.isBlank()) {
            throw new IllegalArgumentException("tool rule must not be empty; expected tool.param=REGEX[,...]");
        }
        Map<String, List<Entry>> entries = new LinkedHashMap<>();
        for (String raw : ENTRY_SEPARATOR.split(spec)) {
            Matcher matcher = ENTRY.matcher(raw);
            if (!matcher.matches()) {
                throw new IllegalArgumentException("malformed tool rule entry '" + raw.trim()
                        + "'; expected tool.param=REGEX or tool.param=REGEX=>TEMPLATE");
            }
            String body = matcher.group(3).strip();
            int arrow = body.indexOf(TEMPLATE_SEPARATOR);
            String regex = arrow < 0 ? body : body.substring(0, arrow);
            String template = arrow < 0 ? null : body.substring(arrow + TEMPLATE_SEPARATOR.length());
            Pattern pattern;
            try {
                pattern = Pattern.compile(regex, Pattern.MULTILINE);
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException(
                        "invalid regex in tool rule entry '" + raw.trim() + "': " + e.getDescription(), e);
            }
            if (template == null && pattern.matcher("").groupCount() < 1) {
                throw new IllegalArgumentException(
                        "tool rule entry '" + raw.trim() + "' needs a capturing group (or a =>TEMPLATE)");
            }
            entries.computeIfAbsent(matcher.group(1), k -> new ArrayList<>())
                    .add(new Entry(matcher.group(2), pattern, template));
        }
        entries.replaceAll((tool, list) -> List.copyOf(list));
        return new RegexToolCallRule(spec, Map.copyOf(entries));
    }

    @Override
    public Optional<ToolInvocation> choose(ToolCallContext context) {
        for (ToolSpec tool : context.tools()) {
            List<Entry> entries = entriesByTool.get(tool.name());
            if (entries != null) {
                return Optional.of(new ToolInvocation(tool.name(), arguments(tool, entries, context)));
            }
        }
        return ToolCallRule.defaultRule().choose(context);
    }

    private static ObjectNode arguments(ToolSpec tool, List<Entry> entries, ToolCallContext context) {
        ObjectNode arguments = ToolCallRule.defaultArguments(tool, context);
        String message = context.lastUserMessage();
        for (Entry entry : entries) {
            Matcher matcher = entry.pattern().matcher(message);
            if (!matcher.find()) {
                LOGGER.debug(
                        "Tool rule regex did not match; default kept tool={} param={}", tool.name(), entry.param());
                continue;
            }
            String value = entry.template() == null ? matcher.group(1) : expand(entry.template(), matcher);
            arguments.set(
                    entry.param(),
                    typed(value, tool.parameters().path("properties").path(entry.param())));
        }
        return arguments;
    }

    private static String expand(String template, Matcher matcher) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < template.length(); i++) {
            char c = template.charAt(i);
            if (c == '$' && i + 1 < template.length() && Character.isDigit(template.charAt(i + 1))) {
                int group = template.charAt(++i) - '0';
                String captured = group <= matcher.groupCount() ? matcher.group(group) : null;
                out.append(captured == null ? "" : captured);
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static JsonNode typed(String value, JsonNode propertySchema) {
        String type = propertySchema.path("type").asText("string");
        String trimmed = value.trim();
        try {
            switch (type) {
                case "integer":
                    return Json.NODES.numberNode(Long.parseLong(trimmed));
                case "number":
                    return Json.NODES.numberNode(Double.parseDouble(trimmed));
                case "boolean":
                    if (trimmed.equalsIgnoreCase("true") || trimmed.equalsIgnoreCase("false")) {
                        return Json.NODES.booleanNode(Boolean.parseBoolean(trimmed));
                    }
                    return Json.NODES.textNode(value);
                default:
                    return Json.NODES.textNode(value);
            }
        } catch (NumberFormatException e) {
            return Json.NODES.textNode(value);
        }
    }

    @Override
    public String toString() {
        return spec;
    }

    private record Entry(String param, Pattern pattern, String template) {}
}
