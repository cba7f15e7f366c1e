package io.batchagent.bench.chaos;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;

/**
 * The fault campaign, CI-sized ({@link ChaosCampaign.Settings#small}): a broker, every stage and the
 * client as processes of their own, SIGKILLs over the roles, a broker restart, engine faults and
 * varied answers, then bad records on every input topic. {@code bench/run chaos} runs the full one.
 *
 * <p>Part of {@code mvn verify} (about 3-5 minutes: it starts ten JVMs); {@code -Dchaos=false} skips it
 * for a quick local build.
 */
@DisabledIfSystemProperty(named = "chaos", matches = "false")
class ChaosCampaignIT {

    @Test
    void shouldEndEveryJobOnceAndHandleEveryBadRecordWhileRolesAreKilledAndTheEngineMisbehaves() throws Exception {
        ChaosCampaign.Outcome outcome = ChaosCampaign.execute(
                Path.of("target", "chaos-it"),
                ChaosCampaign.Settings.small(11),
                line -> System.err.println("chaos: " + line));

        assertThat(outcome.jobsWithoutFinalResult())
                .as("jobs without a final result")
                .isEmpty();
        assertThat(outcome.disagreeingJobs())
                .as("jobs whose final records disagree")
                .isEmpty();
        assertThat(outcome.cacheableExecutionsRepeated())
                .as("cacheable calls executed again after completing")
                .isEmpty();
        assertThat(outcome.fuzzUnhandledByKind())
                .as("bad records with neither a dead letter nor a FAILED result")
                .isEmpty();
        assertThat(outcome.deadRoles()).as("stage processes that died").isEmpty();
        assertThat(outcome.crashLines())
                .as("stage threads replaced or loops stopped")
                .isEmpty();
        assertThat(outcome.kills())
                .as("kills made")
                .hasSizeGreaterThanOrEqualTo(outcome.settings().kills());
        assertThat(outcome.faultsInjected().values().stream()
                        .mapToLong(Long::longValue)
                        .sum())
                .as("engine faults injected")
                .isPositive();
    }
}
