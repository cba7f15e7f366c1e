package io.batchagent.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolStatus;
import org.junit.jupiter.api.Test;

class ToolActivityTest {

    private static ToolResponse response(
            String job, String hash, ToolStatus status, boolean executed, boolean coalesced, long ms) {
        return response(job, hash, status, executed, coalesced, 1_000, ms);
    }

    private static ToolResponse response(
            String job, String hash, ToolStatus status, boolean executed, boolean coalesced, long startedAt, long ms) {
        ToolResult result = ToolResult.newBuilder()
                .setCallHash(hash)
                .setTool("search")
                .setStatus(status)
                .setOutput("o")
                .setExecuted(executed)
                .setStartedAtMs(startedAt)
                .setFinishedAtMs(startedAt + ms)
                .build();
        return new ToolResponse(job, 1, "c1", result, coalesced, 1);
    }

    @Test
    void shouldSummariseABatchsToolUseFromTheResponsesItsAgentsGot() {
        ToolActivity activity = new ToolActivity();
        activity.add(response("j1", "h1", ToolStatus.OK, true, false, 100));
        activity.add(response("j2", "h1", ToolStatus.OK, true, true, 100));
        activity.add(response("j3", "h1", ToolStatus.OK, true, true, 100));
        activity.add(response("j3", "h1", ToolStatus.OK, true, true, 100)); // a replay counts once
        activity.add(response("j4", "h2", ToolStatus.OK, true, false, 300));
        activity.add(response("j5", "h3", ToolStatus.OK, false, false, 0));
        activity.add(response("j6", "h4", ToolStatus.TIMEOUT, true, false, 1_000));
        activity.add(response("j7", "h5", ToolStatus.ERROR, false, false, 0));

        ToolActivity.Stats search = activity.summary().get("search");

        assertThat(search).isEqualTo(new ToolActivity.Stats("search", 7, 3, 2, 1, 2, 300, 1_000));
        assertThat(activity.toPrometheus("b-1"))
                .contains("batchagent_batch_tool_requested_total{batch=\"b-1\",tool=\"search\"} 7\n")
                .contains("batchagent_batch_tool_coalesced_total{batch=\"b-1\",tool=\"search\"} 2\n")
                .contains("batchagent_batch_tool_latency_ms{batch=\"b-1\",tool=\"search\",quantile=\"0.95\"} 1000\n");
    }

    @Test
    void shouldCountACallThatRanAgainAfterItsFirstExecutionEndedAsTwoExecutions() {
        ToolActivity activity = new ToolActivity();
        activity.add(response("j1", "h1", ToolStatus.OK, true, false, 1_000, 400));
        activity.add(response("j2", "h1", ToolStatus.OK, true, true, 1_000, 400));
        // j3 asked for the same call after the first execution had answered: it ran again.
        activity.add(response("j3", "h1", ToolStatus.OK, true, false, 1_600, 400));

        ToolActivity.Stats search = activity.summary().get("search");

        assertThat(search.requested()).isEqualTo(3);
        assertThat(search.executed()).isEqualTo(2);
        assertThat(search.coalesced()).isEqualTo(1);
    }
}
