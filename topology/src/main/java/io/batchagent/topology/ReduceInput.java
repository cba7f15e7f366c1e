package io.batchagent.topology;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.events.JobStatus;
import io.batchagent.events.state.MapOutcome;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * The input of a workflow's reduce job: every map job's outcome, in index order, as
 * {@code {"results": [{"index", "status", "output", "error"}...], "succeeded": n, "failed": m}}, within a
 * byte budget so that the job (and the turns that carry it) fit the record budget.
 *
 * <p>When every output fits the budget, every output is there whole. When they do not, every map job
 * still has its entry (index, status, error) and gets an equal share of what is left for outputs; the
 * shares that shorter outputs leave unused go to the longer ones (water-filling). An output longer
 * than its share is given as a string holding the first part of its JSON text, with
 * {@code "output_truncated": true} and {@code "output_bytes"} (its full size); the input then says
 * {@code "truncated": k}. Only if even the entries without outputs exceed the budget (tens of thousands
 * of map jobs) are the last entries left out, counted in {@code "omitted"}. Errors are cut to
 * {@value #MAX_ERROR_CHARS} characters.
 */
final class ReduceInput {

    static final int MAX_ERROR_CHARS = 500;

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Room for the envelope: the counts around the results array. */
    private static final int ENVELOPE_BYTES = 256;

    private ReduceInput() {}

    /**
     * @param outcomes calls its argument with each map job's outcome in index order; called more than once
     * @param budgetBytes the most bytes the input may have (UTF-8)
     */
    static String build(Consumer<Consumer<MapOutcome>> outcomes, int budgetBytes) {
        Sizes sizes = measure(outcomes);
        long forOutputs = (long) budgetBytes - ENVELOPE_BYTES - sizes.entriesBytes;
        int longest = Arrays.stream(sizes.outputBytes).max().orElse(0);
        int share = forOutputs < 0
                ? 0
                : Math.min(longest, waterLevel(sizes.outputBytes, (int) Math.min(Integer.MAX_VALUE, forOutputs)));
        // The shares are measured on the outputs' own text; escaping a cut output as a JSON string adds
        // bytes, so the result is checked and the share lowered until it fits.
        while (true) {
            String input = render(outcomes, share, budgetBytes, sizes.outputBytes);
            if (input != null) {
                return input;
            }
            share = share * 3 / 4;
        }
    }

    private record Sizes(int[] outputBytes, long entriesBytes) {}

    private static Sizes measure(Consumer<Consumer<MapOutcome>> outcomes) {
        int[][] sizes = {new int[64]};
        int[] count = {0};
        long[] entries = {0};
        outcomes.accept(outcome -> {
            if (count[0] == sizes[0].length) {
                sizes[0] = Arrays.copyOf(sizes[0], count[0] * 2);
            }
            sizes[0][count[0]++] = outputBytes(outcome);
            entries[0] += entry(outcome).toString().getBytes(StandardCharsets.UTF_8).length + 1;
        });
        return new Sizes(Arrays.copyOf(sizes[0], count[0]), entries[0]);
    }

    /** The largest share such that outputs cut to it fill at most {@code budget} bytes. */
    static int waterLevel(int[] outputBytes, int budget) {
        long total = 0;
        for (int size : outputBytes) {
            total += size;
        }
        if (total <= budget) {
            return Integer.MAX_VALUE;
        }
        int[] sorted = outputBytes.clone();
        Arrays.sort(sorted);
        long remaining = budget;
        for (int i = 0; i < sorted.length; i++) {
            long share = remaining / (sorted.length - i);
            if (sorted[i] > share) {
                return (int) share;
            }
            remaining -= sorted[i];
        }
        return Integer.MAX_VALUE;
    }

    /** The input with outputs cut to {@code share}; null if it does not fit and a smaller share is worth trying. */
    private static String render(
            Consumer<Consumer<MapOutcome>> outcomes, int share, int budgetBytes, int[] outputBytes) {
        ObjectNode input = JSON.createObjectNode();
        ArrayNode results = JSON.createArrayNode();
        int[] counts = new int[4]; // seen, succeeded, truncated, omitted
        long[] used = {ENVELOPE_BYTES};
        outcomes.accept(outcome -> {
            int position = counts[0]++;
            boolean ok = JobStatus.SUCCEEDED.name().equals(outcome.getStatus());
            counts[1] += ok ? 1 : 0;
            ObjectNode entry = entry(outcome);
            int size = outputBytes[position];
            if (outcome.getOutputJson() == null) {
                entry.set("output", JSON.nullNode());
            } else if (size <= share) {
                entry.set("output", parse(outcome.getOutputJson()));
            } else {
                entry.put("output", cut(outcome.getOutputJson(), share));
                entry.put("output_truncated", true);
                entry.put("output_bytes", size);
                counts[2]++;
            }
            long entryBytes = entry.toString().getBytes(StandardCharsets.UTF_8).length + 1;
            if (counts[3] > 0 || used[0] + entryBytes > budgetBytes) {
                counts[3]++;
                return;
            }
            used[0] += entryBytes;
            results.add(entry);
        });
        if (counts[3] > 0 && share > 0) {
            return null; // cut outputs grew when escaped: lower the share before leaving anything out
        }
        input.set("results", results);
        input.put("succeeded", counts[1]);
        input.put("failed", counts[0] - counts[1]);
        if (counts[2] > 0) {
            input.put("truncated", counts[2]);
        }
        if (counts[3] > 0) {
            input.put("omitted", counts[3]);
        }
        return input.toString();
    }

    /** An entry without its output. */
    private static ObjectNode entry(MapOutcome outcome) {
        ObjectNode entry = JSON.createObjectNode();
        entry.put("index", outcome.getIndex());
        entry.put("status", outcome.getStatus());
        if (outcome.getError() != null) {
            String error = outcome.getError();
            entry.put("error", error.length() <= MAX_ERROR_CHARS ? error : error.substring(0, MAX_ERROR_CHARS) + "...");
        }
        return entry;
    }

    private static int outputBytes(MapOutcome outcome) {
        return outcome.getOutputJson() == null ? 4 : outcome.getOutputJson().getBytes(StandardCharsets.UTF_8).length;
    }

    /** The longest prefix of {@code text} within {@code maxBytes} UTF-8 bytes, never splitting a surrogate pair. */
    private static String cut(String text, int maxBytes) {
        int bytes = 0;
        int end = 0;
        while (end < text.length()) {
            int codePoint = text.codePointAt(end);
            int width = codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
            if (bytes + width > maxBytes) {
                break;
            }
            bytes += width;
            end += Character.charCount(codePoint);
        }
        return text.substring(0, end);
    }

    static JsonNode parse(String json) {
        if (json == null) {
            return JSON.nullNode();
        }
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            return JSON.getNodeFactory().textNode(json);
        }
    }
}
