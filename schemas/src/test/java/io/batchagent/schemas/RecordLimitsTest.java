package io.batchagent.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import io.batchagent.events.Timings;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolResult;
import io.batchagent.events.ToolStatus;
import io.batchagent.events.Usage;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

class RecordLimitsTest {

    @Test
    void shouldDeriveEveryLimitFromOneBudget() {
        RecordLimits limits = RecordLimits.defaults();

        assertThat(limits.maxRequestBytes()).isEqualTo(8 * 1024 * 1024);
        assertThat(limits.maxMessageBytes()).isGreaterThan(limits.maxRequestBytes());
        assertThat(limits.maxValueBytes()).isLessThan(limits.maxRequestBytes());
        assertThat(limits.topicConfig()).containsEntry("max.message.bytes", Integer.toString(limits.maxMessageBytes()));
        assertThat(limits.producerConfig(Map.of("bootstrap.servers", "k:9092", "max.request.size", 1_048_576)))
                .containsEntry("max.request.size", limits.maxRequestBytes())
                .containsEntry("compression.type", "zstd")
                .containsEntry("bootstrap.servers", "k:9092");
        assertThat(limits.producerConfig(Map.of("compression.type", "lz4"))).containsEntry("compression.type", "lz4");
    }

    @Test
    void shouldReadTheBudgetFromConfigurationAndRejectNonsense() {
        assertThat(RecordLimits.from(Map.of(RecordLimits.MAX_RECORD_BYTES_CONFIG, "2097152"))
                        .maxRecordBytes())
                .isEqualTo(2_097_152);
        assertThat(RecordLimits.from(Map.of())).isEqualTo(RecordLimits.defaults());
        assertThatThrownBy(() -> RecordLimits.from(Map.of(RecordLimits.MAX_RECORD_BYTES_CONFIG, "lots")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(RecordLimits.MAX_RECORD_BYTES_CONFIG);
        assertThatThrownBy(() -> new RecordLimits(1_000))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("at least 65536");
    }

    @Test
    void shouldRefuseToSerializeAValueOverTheBudgetSayingHowLarge() {
        Topics topics = Topics.create("", Map.of(RecordLimits.MAX_RECORD_BYTES_CONFIG, 64 * 1024));
        AgentJob fits = new AgentJob("j", "b", 0L, "x".repeat(40_000), 1L, 1);
        AgentJob tooLarge = new AgentJob("j", "b", 0L, "x".repeat(60_000), 1L, 1);

        assertThat(topics.agentJobs().valueSerde().serializer().serialize("agent-jobs", fits))
                .hasSizeGreaterThan(40_000);
        assertThatThrownBy(() -> topics.agentJobs().valueSerde().serializer().serialize("agent-jobs", tooLarge))
                .isInstanceOfSatisfying(OversizedRecordException.class, e -> {
                    assertThat(e.topic()).isEqualTo("agent-jobs");
                    assertThat(e.sizeBytes()).isGreaterThan(60_000);
                    assertThat(e.limitBytes()).isEqualTo(topics.limits().maxValueBytes());
                })
                .hasMessageContaining("over the limit of " + topics.limits().maxValueBytes() + " bytes");
    }

    @Test
    void shouldStampTheJobAndBatchOfARecordInItsHeaders() {
        AgentResult result = AgentResult.newBuilder()
                .setJobId("job-1")
                .setBatchId("batch-1")
                .setIndex(0)
                .setStatus(JobStatus.SUCCEEDED)
                .setTurns(1)
                .setUsage(new Usage())
                .setTimings(new Timings())
                .setFinishedAtMs(1L)
                .build();
        Headers headers = new RecordHeaders();

        JobHeaders.stamp(headers, result);
        JobHeaders.stamp(headers, result);

        assertThat(JobHeaders.jobId(headers)).contains("job-1");
        assertThat(JobHeaders.batchId(headers)).contains("batch-1");
        assertThat(headers.headers(JobHeaders.JOB_ID)).hasSize(1);

        Headers responseHeaders = JobHeaders.stamp(
                new RecordHeaders(),
                new ToolResponse(
                        "job-2",
                        1,
                        "c1",
                        ToolResult.newBuilder()
                                .setCallHash("h")
                                .setTool("t")
                                .setStatus(ToolStatus.OK)
                                .setOutput("")
                                .setStartedAtMs(1L)
                                .setFinishedAtMs(2L)
                                .build(),
                        false,
                        1));
        assertThat(JobHeaders.jobId(responseHeaders)).contains("job-2");
        assertThat(JobHeaders.batchId(responseHeaders)).isEmpty();
    }
}
