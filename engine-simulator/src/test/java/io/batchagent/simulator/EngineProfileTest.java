package io.batchagent.simulator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class EngineProfileTest {

    @Test
    void shouldLookProfilesUpByName() {
        assertThat(EngineProfile.named("instant")).isSameAs(EngineProfile.INSTANT);
        assertThat(EngineProfile.named("H100-Qwen2.5-32B")).isSameAs(EngineProfile.H100_QWEN32B);
    }

    @Test
    void shouldListKnownProfilesForAnUnknownName() {
        assertThatThrownBy(() -> EngineProfile.named("a100"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("a100")
                .hasMessageContaining("instant")
                .hasMessageContaining("h100-qwen2.5-32b");
    }

    @Test
    void shouldDeriveTheH100ProfileFromPublicFigures() {
        EngineProfile h100 = EngineProfile.H100_QWEN32B;

        // Counted from Qwen2.5-32B's config.json; x 2 bytes = 65.53 GB = 61.03 GiB of weights.
        assertThat(EngineProfile.H100Qwen32b.PARAMETERS).isEqualTo(32_763_876_352L);
        assertThat(EngineProfile.H100Qwen32b.WEIGHT_BYTES / (1L << 30)).isCloseTo(61.03, within(0.005));
        // 989.4 TFLOPS x 0.5 MFU / (2 x 32.76e9 FLOPs per token)
        assertThat(h100.prefillTokensPerSecond()).isEqualTo(7549.0);
        assertThat(h100.stepOverheadMillis()).isEqualTo(1.5);
        // 65.53 GB of weights / (3.35 TB/s x 0.85)
        assertThat(h100.decodeStepBaseMillis()).isEqualTo(23.01);
        // 65.5 GFLOPs per token at 494.7 TFLOPS
        assertThat(h100.decodeMillisPerSequence()).isEqualTo(0.132);
        // 256 KiB of KV per context token / (3.35 TB/s x 0.85)
        assertThat(h100.decodeMillisPerContextToken()).isEqualTo(0.0000921);
        // (0.9 x 81,559 MiB - 65.53 GB - 864 MiB activations - 256 MiB runtime) / 256 KiB
        assertThat(h100.kvCapacityTokens()).isEqualTo(39_163);
        assertThat(h100.prefillTokenBudget()).isEqualTo(8192);
        assertThat(h100.maxRunningRequests()).isEqualTo(256);
        assertThat(EngineProfile.H100Qwen32b.KV_BYTES_PER_TOKEN).isEqualTo(256 * 1024);
    }

    @Test
    void shouldDecodeAtTheSpeedPublishedForOneH100AtBatchOne() {
        EngineProfile h100 = EngineProfile.H100_QWEN32B;

        // Public figures for Qwen2.5-32B BF16 on one H100: about 38-45 tokens/s for a single stream.
        for (long context : new long[] {1_000, 4_096, 13_000}) {
            assertThat(1000 / h100.soloDecodeMillis(context))
                    .as("tokens/s at a %d-token context", context)
                    .isBetween(38.0, 45.0);
        }
        assertThat(1000 / h100.soloDecodeMillis(1_000)).isCloseTo(40.43, within(0.01));
        assertThat(1000 / h100.soloDecodeMillis(13_000)).isCloseTo(38.70, within(0.01));
    }

    @Test
    void shouldChargeALongerContextMoreForTheSameDecodeStep() {
        EngineProfile h100 = EngineProfile.H100_QWEN32B;

        // One sequence at 13,000 tokens against one at 4,096: 8,904 more tokens of KV read.
        assertThat(h100.stepMillis(0, 1, 13_000) - h100.stepMillis(0, 1, 4_096))
                .isCloseTo(8_904 * 0.0000921, within(1e-9));
    }

    @Test
    void shouldCostNothingOnTheInstantProfile() {
        assertThat(EngineProfile.INSTANT.isFree()).isTrue();
        assertThat(EngineProfile.INSTANT.stepMillis(1_000_000, 4096, 1L << 30)).isZero();
        assertThat(EngineProfile.INSTANT.workMillis(1_000, 1_000_000, 4096, 1L << 30))
                .isZero();
    }

    @Test
    void shouldAddOverheadPrefillDecodeBasePerSequenceAndContextCosts() {
        EngineProfile profile = new EngineProfile("test", 1000, 1.5, 20, 0.5, 0.01, 10_000, 512, 8);

        assertThat(profile.isFree()).isFalse();
        assertThat(profile.stepMillis(0, 0, 0)).isZero();
        assertThat(profile.stepMillis(500, 4, 1_000)).isEqualTo(1.5 + 20 + 500 + 4 * 0.5 + 1_000 * 0.01);
        // Linear: three steps cost the formula over their sums.
        assertThat(profile.workMillis(3, 500, 9, 3_000))
                .isCloseTo(
                        profile.stepMillis(500, 4, 1_000)
                                + profile.stepMillis(0, 4, 1_500)
                                + profile.stepMillis(0, 1, 500),
                        within(1e-9));
    }

    @Test
    void shouldKeepTheOlderConstructorFreeOfOverheadAndContextCost() {
        EngineProfile profile = new EngineProfile("test", 1000, 20, 0.5, 10_000, 512, 8);

        assertThat(profile.stepOverheadMillis()).isZero();
        assertThat(profile.decodeMillisPerContextToken()).isZero();
        assertThat(profile.stepMillis(500, 4, 123_456)).isEqualTo(500 + 20 + 2.0);
    }

    @Test
    void shouldRejectInvalidFigures() {
        assertThatThrownBy(() -> new EngineProfile("bad", 0, 1, 1, 10, 10, 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("prefillTokensPerSecond");
        assertThatThrownBy(() -> new EngineProfile("bad", 1, 1, 1, 10, 0, 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("prefillTokenBudget");
        assertThatThrownBy(() -> new EngineProfile("bad", 1, -1, 1, 1, 0, 10, 10, 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("finite and >= 0");
        assertThatThrownBy(() -> new EngineProfile("bad", 1, 0, 1, 1, Double.NaN, 10, 10, 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("finite and >= 0");
    }
}
