package io.batchagent.schemas;

import io.batchagent.events.OutputRef;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolStatus;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;

/**
 * Claim checks for large tool outputs. A tool output is written to Kafka once, in its tool-results
 * record; the coalescer fans out to each waiting agent a {@code ToolResponse} that names that record
 * ({@link OutputRef}) instead of carrying a copy, the turn assembler puts the reference in the agent's
 * tool message, and the inference worker reads the record back when it builds a prompt. So an agent
 * that reads many large outputs does not write each one into every later record of its conversation.
 *
 * <p>Only OK outputs of at least the catalogue's inline limit ({@value #INLINE_LIMIT_CONFIG}, default
 * {@value #INLINE_LIMIT_CHARS} characters; {@link Topics#inlineOutputChars()}) travel by reference:
 * smaller ones, errors and timeouts stay inline, so short tool outputs cost no read. A limit of 0 keeps
 * every output inline (as before references existed). Immutable.
 *
 * @param inlineLimitChars outputs shorter than this stay inline; 0: all do
 */
public record OutputRefs(int inlineLimitChars) {

    public static final String INLINE_LIMIT_CONFIG = "batchagent.tool.output.inline.chars";
    public static final String INLINE_LIMIT_DOC = "Tool outputs (OK) of at least this many characters are written to "
            + "Kafka once, on tool-results, and every later record of the conversation carries a reference to that "
            + "record; 0 keeps every output inline in every record.";
    /** The default inline limit. */
    public static final int INLINE_LIMIT_CHARS = 1024;

    public OutputRefs {
        if (inlineLimitChars < 0) {
            throw new ConfigException(INLINE_LIMIT_CONFIG, inlineLimitChars, "must not be negative");
        }
    }

    /** The limit {@code config} sets with {@value #INLINE_LIMIT_CONFIG}, or the default. */
    public static OutputRefs from(Map<String, ?> config) {
        Object value = config == null ? null : config.get(INLINE_LIMIT_CONFIG);
        if (value == null || value.toString().isBlank()) {
            return new OutputRefs(INLINE_LIMIT_CHARS);
        }
        try {
            return new OutputRefs(
                    value instanceof Number number
                            ? number.intValue()
                            : Integer.parseInt(value.toString().trim()));
        } catch (NumberFormatException e) {
            throw new ConfigException(INLINE_LIMIT_CONFIG, value, "must be a number of characters");
        }
    }

    /** Whether {@code result} should travel by reference. */
    public boolean byReference(ToolResult result) {
        return inlineLimitChars > 0
                && result.getOutputRef() == null
                && result.getStatus() == ToolStatus.OK
                && result.getOutput().length() >= inlineLimitChars;
    }

    /**
     * {@code result}, as read from {@code topic}-{@code partition} at {@code offset}, with its output
     * replaced by a reference to that record when it {@linkplain #byReference should travel by reference};
     * otherwise {@code result} itself.
     */
    public ToolResult referenced(ToolResult result, String topic, int partition, long offset) {
        if (!byReference(result)) {
            return result;
        }
        OutputRef ref = OutputRef.newBuilder()
                .setTopic(topic)
                .setPartition(partition)
                .setOffset(offset)
                .setChars(result.getOutput().length())
                .build();
        return ToolResult.newBuilder(result).setOutput("").setOutputRef(ref).build();
    }
}
