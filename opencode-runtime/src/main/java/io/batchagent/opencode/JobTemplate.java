package io.batchagent.opencode;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Fills {@code {name}} placeholders from a job's input object, as the job compiler's task templates do
 * (Python's {@code str.format}: {@code {{} and {@code }}} are literal braces; string values inserted as they
 * are, other values as compact JSON).
 */
final class JobTemplate {

    /** The input does not fit the template. */
    static final class MissingVariable extends Exception {
        MissingVariable(String message) {
            super(message, null, false, false);
        }
    }

    private JobTemplate() {}

    static String render(String template, JsonNode input) throws MissingVariable {
        StringBuilder out = new StringBuilder(template.length() + 64);
        int i = 0;
        while (i < template.length()) {
            char c = template.charAt(i);
            if (c == '{' && i + 1 < template.length() && template.charAt(i + 1) == '{') {
                out.append('{');
                i += 2;
            } else if (c == '}' && i + 1 < template.length() && template.charAt(i + 1) == '}') {
                out.append('}');
                i += 2;
            } else if (c == '{') {
                int end = template.indexOf('}', i + 1);
                if (end < 0) {
                    throw new IllegalArgumentException("unbalanced '{' at position " + i + " of the template");
                }
                String name = template.substring(i + 1, end).trim();
                JsonNode value = input.get(name);
                if (name.isEmpty()) {
                    throw new IllegalArgumentException("empty placeholder at position " + i + " of the template");
                }
                if (value == null) {
                    throw new MissingVariable("the template variable '" + name + "' is missing from the job's input");
                }
                out.append(value.isTextual() ? value.asText() : value.toString());
                i = end + 1;
            } else {
                out.append(c);
                i++;
            }
        }
        return out.toString();
    }
}
