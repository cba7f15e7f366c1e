package io.batchagent.layering;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/**
 * The layering of every module the CLI puts together, as the build checks it (debezium's way): the
 * stages know nothing of the CLI or the SDK, Streams code makes no HTTP or Redis call, workers run no
 * Streams, and no two top-level packages depend on each other in a cycle. The client module's own
 * rule (it depends on no stage) is {@code ClientLayeringTest}.
 */
@AnalyzeClasses(packages = "io.batchagent", importOptions = ImportOption.DoNotIncludeTests.class)
class LayeringTest {

    private static final String[] STAGES = {
        "io.batchagent.topology..",
        "io.batchagent.inference..",
        "io.batchagent.tools..",
        "io.batchagent.worker..",
        "io.batchagent.gateway..",
        "io.batchagent.opencode..",
        "io.batchagent.observability.."
    };

    @ArchTest
    static final ArchRule stagesDoNotDependOnTheCliOrTheSdk = noClasses()
            .that()
            .resideInAnyPackage(STAGES)
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage("io.batchagent.cli..", "io.batchagent.sdk..")
            .because(
                    "the CLI and the SDK put stages together; a stage that reached back would tie every worker to them");

    @ArchTest
    static final ArchRule clientAndSchemasDependOnNoStage = noClasses()
            .that()
            .resideInAnyPackage(
                    "io.batchagent.client..",
                    "io.batchagent.sdk..",
                    "io.batchagent.schemas..",
                    "io.batchagent.events..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(STAGES)
            .orShould()
            .dependOnClassesThat()
            .resideInAnyPackage(
                    "io.batchagent.cli..",
                    "io.batchagent.simulator..",
                    "io.batchagent.kafka.embedded..",
                    "org.apache.kafka.streams..")
            .because("applications use the client without running a stage");

    @ArchTest
    static final ArchRule topologiesMakeNoHttpOrRedisCalls = noClasses()
            .that()
            .resideInAPackage("io.batchagent.topology..")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage("reactor.netty..", "io.netty..", "io.lettuce..", "okhttp3..", "java.net.http..")
            .because("a blocking network call on a Streams thread stalls every task of that thread (STYLE.md)");

    @ArchTest
    static final ArchRule workersRunNoStreams = noClasses()
            .that()
            .resideInAnyPackage("io.batchagent.inference..", "io.batchagent.tools..", "io.batchagent.worker..")
            .should()
            .dependOnClassesThat()
            .resideInAPackage("org.apache.kafka.streams..")
            .because("workers are plain consumers; Streams state belongs to the topologies");

    @ArchTest
    static final ArchRule noCyclesBetweenModules =
            slices().matching("io.batchagent.(*)..").should().beFreeOfCycles();
}
