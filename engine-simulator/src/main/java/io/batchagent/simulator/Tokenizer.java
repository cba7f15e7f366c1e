package io.batchagent.simulator;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The SIMULATED engine's tokenizer: deterministic, stateless, about four characters per token on
 * English prose (3.9 on a typical paragraph; about 3.7 on compact JSON and 3.1 to 3.5 on markdown). It only has to produce realistic token counts and stable token ids for the prefix
 * cache; it is not the Qwen tokenizer and its counts differ from a real one's.
 *
 * <p>Rules, applied in order:
 * <ol>
 *   <li>Special tokens are single tokens: {@code <|...|>} (e.g. {@code <|im_start|>}) and
 *       {@code <tool_call>} / {@code </tool_call>}. The text between them is tokenized on its own,
 *       so no piece ever spans a special token.</li>
 *   <li>Each stretch between special tokens is split with the GPT-2 pre-tokenizer expression:
 *       contractions, an optional space plus a run of letters, an optional space plus a run of
 *       digits, an optional space plus a run of other symbols, and whitespace.</li>
 *   <li>Pieces longer than six characters are cut into six-character chunks (never inside a
 *       surrogate pair). Six, not four: most pieces carry their leading space, and with four an
 *       English word of average length would cost two tokens, about three characters per token.</li>
 * </ol>
 *
 * <p>Pieces concatenate back to the input exactly ({@link #pieces} is lossless). A token id is a
 * function of its piece alone: an ASCII piece of at most four characters is packed into the id
 * injectively (non-negative ids); any other piece gets a 32-bit FNV-1a hash with the sign bit set,
 * so short ASCII pieces never collide with anything, and two longer pieces collide with a chance of
 * about one in two billion (a collision could only make one token a false cache hit).
 *
 * <p>Thread-safety: all methods are static and safe from any thread.
 */
public final class Tokenizer {

    static final int MAX_PIECE_CHARS = 6;
    private static final int PACKED_PIECE_CHARS = 4;

    private static final Pattern SPECIAL = Pattern.compile("<\\|[^|<>\\s]{1,40}\\|>|</?tool_call>");
    private static final Pattern PRE_TOKENIZER =
            Pattern.compile("'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

    private Tokenizer() {}

    /** The pieces of {@code text}, in order; they concatenate back to {@code text}. */
    public static List<String> pieces(String text) {
        List<String> out = new ArrayList<>(text.length() / 3 + 1);
        Matcher special = SPECIAL.matcher(text);
        int from = 0;
        while (special.find()) {
            splitOrdinary(text, from, special.start(), out);
            out.add(special.group());
            from = special.end();
        }
        splitOrdinary(text, from, text.length(), out);
        return out;
    }

    /** Token ids of {@code text}: {@code tokenId} of each of its {@link #pieces}. */
    public static int[] encode(String text) {
        List<String> pieces = pieces(text);
        int[] ids = new int[pieces.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tokenId(pieces.get(i));
        }
        return ids;
    }

    /** Number of tokens in {@code text}. */
    public static int count(String text) {
        return pieces(text).size();
    }

    /** The id of one piece; see the class documentation for the scheme. */
    public static int tokenId(String piece) {
        int length = piece.length();
        if (length >= 1 && length <= PACKED_PIECE_CHARS) {
            int packed = length;
            boolean ascii = true;
            for (int i = 0; i < length && ascii; i++) {
                char c = piece.charAt(i);
                ascii = c < 128;
                packed = packed << 7 | c;
            }
            if (ascii) {
                return packed; // length (3 bits) + up to 4 x 7 bits = at most 31 bits: non-negative
            }
        }
        int hash = 0x811c9dc5;
        for (int i = 0; i < length; i++) {
            hash ^= piece.charAt(i);
            hash *= 0x01000193;
        }
        return hash | 0x8000_0000;
    }

    private static void splitOrdinary(String text, int from, int to, List<String> out) {
        if (from >= to) {
            return;
        }
        Matcher matcher = PRE_TOKENIZER.matcher(text).region(from, to);
        while (matcher.find()) {
            chunk(text, matcher.start(), matcher.end(), out);
        }
    }

    private static void chunk(String text, int start, int end, List<String> out) {
        int position = start;
        while (end - position > MAX_PIECE_CHARS) {
            int cut = position + MAX_PIECE_CHARS;
            if (Character.isHighSurrogate(text.charAt(cut - 1))) {
                cut--;
            }
            out.add(text.substring(position, cut));
            position = cut;
        }
        if (position < end) {
            out.add(text.substring(position, end));
        }
    }
}
