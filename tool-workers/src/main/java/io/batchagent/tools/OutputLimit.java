package io.batchagent.tools;

/** Caps tool output so that no result nears the broker's message size limit. */
final class OutputLimit {

    /** The schema default of {@code ToolSpec.maxOutputChars}, used when a spec gives none. */
    static final int DEFAULT_MAX_CHARS = 16_384;

    private OutputLimit() {}

    /**
     * Returns {@code text} if it has at most {@code maxChars} characters; otherwise its beginning
     * followed by a marker saying how many characters were cut, together at most {@code maxChars}
     * long (unless {@code maxChars} is shorter than the marker itself). A surrogate pair is never
     * split. A {@code maxChars} below 1 means {@link #DEFAULT_MAX_CHARS}.
     */
    static String truncate(String text, int maxChars) {
        int limit = maxChars < 1 ? DEFAULT_MAX_CHARS : maxChars;
        int total = text.length();
        if (total <= limit) {
            return text;
        }
        // The marker for "total of total" is the longest the marker can be, so keeping room for it is enough.
        int keep = Math.max(0, limit - marker(total, total).length());
        if (keep > 0 && Character.isHighSurrogate(text.charAt(keep - 1))) {
            keep--;
        }
        return text.substring(0, keep) + marker(total - keep, total);
    }

    static String marker(int cut, int total) {
        return "\n[truncated: " + cut + " of " + total + " characters cut]";
    }
}
