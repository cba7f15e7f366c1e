package io.batchagent.simulator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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

        // 989.4 TFLOPS x 0.5 MFU / (2 x 32.5e9 FLOPs per token)
        assertThat(h100.prefillTokensPerSecond()).isEqualTo(7611.0);
        // 65 GB of weights / 3.35 TB/s
        assertThat(h100.decodeStepBaseMillis()).isEqualTo(19.4);
        // 4,096 tokens x 256 KiB / 3.35 TB/s + 65 GFLOPs at 494.7 TFLOPS
        assertThat(h100.decodeMillisPerSequence()).isEqualTo(0.452);
        // (0.88 x 81,559 MiB - 65 GB) / 256 KiB
        assertThat(h100.kvCapacityTokens()).isEqualTo(39_132);
        assertThat(h100.prefillTokenBudget()).isEqualTo(8192);
        assertThat(EngineProfile.H100Qwen32b.KV_BYTES_PER_TOKEN).isEqualTo(256 * 1024);
    }

    @Test
    void shouldCostNothingOnTheInstantProfile() {
        assertThat(EngineProfile.INSTANT.isFree()).isTrue();
        assertThat(EngineProfile.INSTANT.stepMillis(1_000_000, 4096)).isZero();
    }

    @Test
    void shouldAddPrefillDecodeBaseAndPerSequenceCosts() {
        EngineProfile profile = new EngineProfile("test", 1000, 20, 0.5, 10_000, 512, 8);

        assertThat(profile.stepMillis(0, 0)).isZero();
        assertThat(profile.stepMillis(500, 4)).isEqualTo(500 + 20 + 2.0);
    }

    @Test
    void shouldRejectInvalidFigures() {
        assertThatThrownBy(() -> new EngineProfile("bad", 0, 1, 1, 10, 10, 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("prefillTokensPerSecond");
        assertThatThrownBy(() -> new EngineProfile("bad", 1, 1, 1, 10, 0, 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("prefillTokenBudget");
    }
}
