package io.batchagent.tools;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class OutputLimitTest {

    @Test
    void shouldLeaveTextWithinTheLimitUntouched() {
        assertThat(OutputLimit.truncate("short", 5)).isEqualTo("short");
        assertThat(OutputLimit.truncate("", 1)).isEmpty();
    }

    @Test
    void shouldCutToTheLimitIncludingAMarkerThatCountsTheCut() {
        String text = "a".repeat(20_000);

        String capped = OutputLimit.truncate(text, 1_000);

        assertThat(capped).hasSizeLessThanOrEqualTo(1_000);
        int kept = capped.indexOf('\n');
        assertThat(capped).endsWith("\n[truncated: " + (20_000 - kept) + " of 20000 characters cut]");
        assertThat(kept).isGreaterThan(900);
    }

    @Test
    void shouldNeverSplitASurrogatePair() {
        String face = "\uD83D\uDE00"; // one emoji, two chars
        String text = face.repeat(100);
        int markerLength = OutputLimit.marker(200, 200).length();

        // A limit that would end the kept text between the two halves of an emoji.
        String capped = OutputLimit.truncate(text, markerLength + 3);

        String kept = capped.substring(0, capped.indexOf('\n'));
        assertThat(kept).isEqualTo(face);
        assertThat(capped).endsWith("[truncated: 198 of 200 characters cut]");
    }

    @Test
    void shouldUseTheSchemaDefaultForANonPositiveLimit() {
        String text = "b".repeat(OutputLimit.DEFAULT_MAX_CHARS + 1);

        assertThat(OutputLimit.truncate(text, 0))
                .hasSizeLessThanOrEqualTo(OutputLimit.DEFAULT_MAX_CHARS)
                .contains("[truncated:");
    }
}
