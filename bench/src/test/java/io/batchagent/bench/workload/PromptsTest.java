package io.batchagent.bench.workload;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class PromptsTest {

    @Test
    void shouldPadToTheFewestRepetitionsThatReachTheTarget() {
        String padded = Prompts.padToTokens("You are an analyst.", "filler", 2_048);
        assertThat(Prompts.tokens(padded)).isGreaterThanOrEqualTo(2_048);
        String shorter = padded.substring(0, padded.lastIndexOf(" filler"));
        assertThat(Prompts.tokens(shorter)).isLessThan(2_048);
    }

    @Test
    void shouldLeaveALongEnoughTextAlone() {
        assertThat(Prompts.padToTokens("one two three", "filler", 1)).isEqualTo("one two three");
    }

    @Test
    void shouldGiveBothConditionsOfW1TheSameRenderedMessages() {
        BatchShape shape = ResearchSummary.shape(2_048, "m");
        assertThat(shape.userMessages()).hasSize(20);
        assertThat(shape.userMessages().get(0))
                .startsWith("Paper ID: 1706.03762\nTitle: Attention Is All You Need\nTopic: transformer attention");
        assertThat(shape.inputs().stream()
                        .map(i -> i.replaceAll(".*\"topic\":\"([^\"]+)\".*", "$1"))
                        .distinct())
                .hasSize(9);
    }
}
