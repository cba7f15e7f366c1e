package io.batchagent.topology;

import io.batchagent.events.BatchSpec;
import io.batchagent.events.ToolSpec;

/**
 * A conservative estimate of a first turn's prompt size, for the OVERSIZED check before any engine
 * call. Counts one token per 3 characters of everything the engine will see (system prompt, tool
 * definitions, schema, per-job message) plus a small allowance per message and tool for the chat
 * template. Real tokenizers average 3.5-4.5 characters per token on English and JSON, so this
 * overestimates: it errs towards failing a job early rather than sending a prompt the engine will
 * reject after queueing it.
 */
final class PromptEstimate {

    static final int CHARS_PER_TOKEN = 3;
    private static final int TEMPLATE_TOKENS_PER_ITEM = 8;

    private PromptEstimate() {}

    static long tokens(BatchSpec spec, String userMessage) {
        long chars = spec.getSystemPrompt().length() + userMessage.length();
        if (spec.getOutputSchemaJson() != null) {
            chars += spec.getOutputSchemaJson().length() + 100;
        }
        for (ToolSpec tool : spec.getTools()) {
            chars += tool.getName().length()
                    + tool.getDescription().length()
                    + tool.getParametersJson().length();
        }
        return chars / CHARS_PER_TOKEN
                + (long) TEMPLATE_TOKENS_PER_ITEM * (2 + spec.getTools().size());
    }
}
