package io.batchagent.client;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.events.CompactionMode;
import io.batchagent.events.CompactionPolicy;
import io.batchagent.schemas.serde.EventSerdes;
import java.util.Iterator;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * A batch's compaction policy from what a user writes: {@code --compaction none|truncate|summarize} with
 * {@code --compaction-keep-turns}, {@code --compaction-truncate-chars} and {@code --max-conversation-bytes},
 * or the {@code compaction} key of a batch spec file, either a mode or a mapping:
 * <pre>
 * compaction: truncate
 * compaction: {mode: summarize, keep_turns: 2, truncate_chars: 200, context_fraction: 0.6,
 *              record_fraction: 0.5, max_conversation_bytes: 0}
 * </pre>
 * Anything not given takes the schema's default (BatchSpec.avsc, {@code CompactionPolicy}): keep the last
 * 2 tool turns, cut older results to 200 characters, compact past 0.6 of {@code --context-tokens} or 0.5
 * of the conversation budget (the record budget unless {@code max_conversation_bytes} says less).
 */
public final class CompactionSettings {

    public static final Set<String> KEYS = Set.of(
            "mode", "keep_turns", "truncate_chars", "context_fraction", "record_fraction", "max_conversation_bytes");

    private CompactionSettings() {}

    /**
     * The policy of the options; null when none was given (no compaction).
     *
     * @throws IllegalArgumentException naming the option and the value that is wrong
     */
    public static CompactionPolicy of(
            String mode, Integer keepTurns, Integer truncateChars, Long maxConversationBytes) {
        if (mode == null && keepTurns == null && truncateChars == null && maxConversationBytes == null) {
            return null;
        }
        CompactionPolicy.Builder policy = builder().setMode(mode(mode == null ? "none" : mode, "--compaction"));
        if (keepTurns != null) {
            policy.setKeepTurns(atLeast(keepTurns, 0, "--compaction-keep-turns"));
        }
        if (truncateChars != null) {
            policy.setTruncateChars(atLeast(truncateChars, 0, "--compaction-truncate-chars"));
        }
        if (maxConversationBytes != null) {
            policy.setMaxConversationBytes(atLeast(maxConversationBytes, 0, "--max-conversation-bytes"));
        }
        return policy.build();
    }

    /**
     * The policy of a spec file's {@code compaction} value: a mode, or a mapping of the keys above.
     *
     * @param where names the file and key, for errors
     * @throws IllegalArgumentException naming {@code where}, the key and what is wrong
     */
    public static CompactionPolicy fromSpecFile(JsonNode value, String where) {
        if (value.isTextual()) {
            return builder().setMode(mode(value.textValue(), where)).build();
        }
        if (!value.isObject()) {
            throw new IllegalArgumentException(where + " must be none, truncate, summarize or a mapping of "
                    + new TreeSet<>(KEYS) + ", got " + value);
        }
        Set<String> unknown = new TreeSet<>();
        for (Iterator<String> names = value.fieldNames(); names.hasNext(); ) {
            String key = names.next();
            if (!KEYS.contains(key)) {
                unknown.add(key);
            }
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(
                    where + " has unknown keys " + unknown + "; known: " + new TreeSet<>(KEYS));
        }
        CompactionPolicy.Builder policy = builder();
        if (value.hasNonNull("mode")) {
            policy.setMode(mode(value.get("mode").asText(), where + ".mode"));
        }
        if (value.hasNonNull("keep_turns")) {
            policy.setKeepTurns(count(value, "keep_turns", where));
        }
        if (value.hasNonNull("truncate_chars")) {
            policy.setTruncateChars(count(value, "truncate_chars", where));
        }
        if (value.hasNonNull("max_conversation_bytes")) {
            policy.setMaxConversationBytes(
                    atLeast(whole(value, "max_conversation_bytes", where), 0, where + ".max_conversation_bytes"));
        }
        if (value.hasNonNull("context_fraction")) {
            policy.setContextFraction(fraction(value, "context_fraction", where));
        }
        if (value.hasNonNull("record_fraction")) {
            policy.setRecordFraction(fraction(value, "record_fraction", where));
        }
        return policy.build();
    }

    private static CompactionPolicy.Builder builder() {
        // The builder fills in the schema's defaults, one of which is an event enum Avro must trust.
        EventSerdes.trustEventClasses();
        return CompactionPolicy.newBuilder();
    }

    private static CompactionMode mode(String text, String where) {
        try {
            return CompactionMode.valueOf(text.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + " must be none, truncate or summarize, got '" + text + "'", e);
        }
    }

    private static long whole(JsonNode object, String key, String where) {
        JsonNode value = object.get(key);
        if (!value.isIntegralNumber() || !value.canConvertToLong()) {
            throw new IllegalArgumentException(where + "." + key + " must be a whole number, got " + value);
        }
        return value.longValue();
    }

    private static int count(JsonNode object, String key, String where) {
        long value = whole(object, key, where);
        if (value < 0 || value > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(
                    where + "." + key + " must be a whole number from 0 to " + Integer.MAX_VALUE + ", got " + value);
        }
        return (int) value;
    }

    private static double fraction(JsonNode object, String key, String where) {
        JsonNode value = object.get(key);
        if (!value.isNumber() || value.doubleValue() <= 0 || value.doubleValue() > 1) {
            throw new IllegalArgumentException(where + "." + key + " must be a number in (0, 1], got " + value);
        }
        return value.doubleValue();
    }

    private static <N extends Number> N atLeast(N value, long minimum, String where) {
        if (value.longValue() < minimum) {
            throw new IllegalArgumentException(where + " must be at least " + minimum + ", got " + value);
        }
        return value;
    }
}
