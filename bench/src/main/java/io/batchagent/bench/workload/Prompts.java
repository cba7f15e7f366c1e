package io.batchagent.bench.workload;

import io.batchagent.simulator.Tokenizer;

/** Prompt text of a given length, measured with the engine simulator's tokenizer. */
public final class Prompts {

    private Prompts() {}

    /**
     * {@code base}, then a blank line and {@code filler} repeated, with as many repetitions as bring
     * the whole to at least {@code targetTokens} simulator tokens (the fewest that do). A real
     * engine's tokenizer counts the same text differently (see engine-simulator/README.md).
     */
    public static String padToTokens(String base, String filler, int targetTokens) {
        if (Tokenizer.count(base) >= targetTokens) {
            return base;
        }
        int low = 0;
        int high = 1;
        while (Tokenizer.count(padded(base, filler, high)) < targetTokens) {
            high *= 2;
        }
        while (low < high) {
            int mid = (low + high) / 2;
            if (Tokenizer.count(padded(base, filler, mid)) >= targetTokens) {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        return padded(base, filler, high);
    }

    static String padded(String base, String filler, int repetitions) {
        StringBuilder out = new StringBuilder(base.length() + repetitions * (filler.length() + 1) + 2).append(base);
        if (repetitions > 0) {
            out.append("\n\n");
            for (int i = 0; i < repetitions; i++) {
                if (i > 0) {
                    out.append(' ');
                }
                out.append(filler);
            }
        }
        return out.toString();
    }

    public static int tokens(String text) {
        return Tokenizer.count(text);
    }
}
