package io.batchagent.simulator;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TokenizerTest {

    private static final String ENGLISH = "You are a systems research analyst benchmarking multi-turn agents. "
            + "Summarise each paper's contribution and its relevance to serving systems, citing the sources "
            + "you used. Final answers must be JSON matching the requested schema.";

    @Test
    void shouldTokenizeDeterministically() {
        assertThat(Tokenizer.encode(ENGLISH)).containsExactly(Tokenizer.encode(new String(ENGLISH)));
        assertThat(Tokenizer.pieces(ENGLISH)).isEqualTo(Tokenizer.pieces(ENGLISH));
    }

    @Test
    void shouldBeLosslessAndCutPiecesToSixCharacters() {
        String text =
                "Internationalization\n\n  {\"query\": \"kv cache\"} 1234567 \uD83D\uDE00\uD83D\uDE00\uD83D\uDE00";
        List<String> pieces = Tokenizer.pieces(text);

        assertThat(String.join("", pieces)).isEqualTo(text);
        assertThat(pieces).allSatisfy(piece -> assertThat(piece.length()).isLessThanOrEqualTo(6));
        assertThat(pieces).containsSubsequence("Intern", "ationa", "lizati", "on");
    }

    @Test
    void shouldAverageRoughlyFourCharactersPerTokenOnEnglish() {
        double charsPerToken = (double) ENGLISH.length() / Tokenizer.count(ENGLISH);

        assertThat(charsPerToken).isBetween(3.5, 4.5);
    }

    @Test
    void shouldKeepSpecialTokensWhole() {
        List<String> pieces = Tokenizer.pieces("<|im_start|>user\nhi}<|im_end|>\n<tool_call>\n{}\n</tool_call>");

        assertThat(pieces)
                .containsSubsequence(
                        "<|im_start|>",
                        "user",
                        "\n",
                        "hi",
                        "}",
                        "<|im_end|>",
                        "\n",
                        "<tool_call>",
                        "\n",
                        "{}",
                        "\n",
                        "</tool_call>");
    }

    @Test
    void shouldTokenizeConcatenationAtSpecialTokenBoundariesAsTheConcatenationOfTokens() {
        String prefix = "<|im_start|>system\nshared prompt<|im_end|>\n";
        String suffix = "<|im_start|>user\nPaper ID: 1706.03762<|im_end|>\n";

        int[] whole = Tokenizer.encode(prefix + suffix);
        int[] a = Tokenizer.encode(prefix);
        int[] b = Tokenizer.encode(suffix);

        int[] joined = new int[a.length + b.length];
        System.arraycopy(a, 0, joined, 0, a.length);
        System.arraycopy(b, 0, joined, a.length, b.length);
        assertThat(whole).containsExactly(joined);
    }

    @Test
    void shouldGiveDistinctIdsToDistinctAsciiPieces() {
        Map<Integer, String> seen = new HashMap<>();
        for (String piece : Tokenizer.pieces(ENGLISH + " the The th t ' a\u00e9 \u00e9a")) {
            String previous = seen.putIfAbsent(Tokenizer.tokenId(piece), piece);
            assertThat(previous == null || previous.equals(piece))
                    .as("collision %s / %s", previous, piece)
                    .isTrue();
        }
        assertThat(Tokenizer.tokenId("abcd")).isNotNegative();
        assertThat(Tokenizer.tokenId("abcdef")).isNegative().isNotEqualTo(Tokenizer.tokenId("abcdeg"));
        assertThat(Tokenizer.tokenId("\u00e9")).isNegative();
    }
}
