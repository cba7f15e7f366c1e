package io.batchagent.bench.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class ChaosProcessesTest {

    private static final List<String> NEEDLES = List.of("Replacing thread", "Encountered the following exception");

    @Test
    void shouldCountAThreadReplacementAsACrashUnlessTheStageCalledItsFaultTransient() {
        List<String> recovered = List.of(
                "12:29:43.607 ERROR TaskExecutor - Committing task(s)  failed.",
                "12:29:50.992 WARN  StreamsSettings - stream thread of job-compiler hit a transient fault; replacing it to read "
                        + "its input again: java.lang.IllegalStateException: ... timed out and must be retried",
                "12:29:51.012 ERROR KafkaStreams - stream-client [x] Replacing thread in the streams uncaught exception handler");
        List<String> crashed = List.of(
                "12:29:51.012 ERROR KafkaStreams - stream-client [x] Replacing thread in the streams uncaught exception handler",
                "12:30:00.000 ERROR KafkaStreams - Encountered the following exception during processing");

        assertThat(ChaosProcesses.matching("job-compiler-1.log", recovered, NEEDLES))
                .isEmpty();
        assertThat(ChaosProcesses.matching("job-compiler-1.log", crashed, NEEDLES))
                .hasSize(2)
                .allSatisfy(line -> assertThat(line).startsWith("job-compiler-1.log: "));
    }
}
