package io.batchagent.topology;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.state.MapOutcome;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ReduceInputTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void shouldGiveShorterOutputsWholeAndShareTheRestEquallyAmongLongerOnes() {
        // 100 + 1000 + 1000 + 1000 over 1600 bytes: the short one whole, the others 500 each
        assertThat(ReduceInput.waterLevel(new int[] {1000, 100, 1000, 1000}, 1600))
                .isEqualTo(500);
        assertThat(ReduceInput.waterLevel(new int[] {10, 20}, 30)).isEqualTo(Integer.MAX_VALUE);
    }

    @Test
    void shouldStayWithinTheBudgetWhenCutOutputsNeedEscaping() throws Exception {
        List<MapOutcome> outcomes = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            outcomes.add(
                    new MapOutcome((long) i, "SUCCEEDED", "{\"q\":\"" + "\\\"quoted\\\" ".repeat(200) + "\"}", null));
        }

        String input = ReduceInput.build(outcomes::forEach, 20_000);

        assertThat(input.getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(20_000);
        JsonNode parsed = JSON.readTree(input);
        assertThat(parsed.path("results")).hasSize(50);
        assertThat(parsed.path("truncated").asInt()).isEqualTo(50);
    }

    @Test
    void shouldLeaveOutTheLastEntriesOnlyWhenEvenBareEntriesExceedTheBudget() throws Exception {
        List<MapOutcome> outcomes = new ArrayList<>();
        for (int i = 0; i < 1_000; i++) {
            outcomes.add(new MapOutcome((long) i, "FAILED", null, "ENGINE_ERROR: " + "e".repeat(1_000)));
        }

        JsonNode parsed = JSON.readTree(ReduceInput.build(outcomes::forEach, 100_000));

        int kept = parsed.path("results").size();
        assertThat(kept).isPositive().isLessThan(1_000);
        assertThat(parsed.path("omitted").asInt()).isEqualTo(1_000 - kept);
        assertThat(parsed.path("failed").asInt()).isEqualTo(1_000);
        assertThat(parsed.path("results").get(0).path("error").asText()).hasSize(ReduceInput.MAX_ERROR_CHARS + 3);
    }
}
