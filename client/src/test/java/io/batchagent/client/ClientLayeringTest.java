package io.batchagent.client;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/**
 * What an application that submits and reads results may pull in: the events, the topic catalogue and
 * plain Kafka clients, Avro and Jackson, and nothing of a stage (no Streams, no netty or reactor, no
 * engine or tool clients). The enforcer bans the jars; this holds the code to it, class by class.
 */
@AnalyzeClasses(
        packages = {"io.batchagent.client", "io.batchagent.sdk"},
        importOptions = ImportOption.DoNotIncludeTests.class)
class ClientLayeringTest {

    @ArchTest
    static final ArchRule clientDependsOnNoStage = classes()
            .that()
            .resideInAnyPackage("io.batchagent.client..", "io.batchagent.sdk..")
            .should()
            .onlyDependOnClassesThat()
            .resideInAnyPackage(
                    "io.batchagent.client..",
                    "io.batchagent.sdk..",
                    "io.batchagent.events..",
                    "io.batchagent.schemas..",
                    "java..",
                    "javax.annotation..",
                    "org.apache.kafka.clients..",
                    "org.apache.kafka.common..",
                    "org.apache.avro..",
                    "com.fasterxml.jackson..",
                    "com.fasterxml.classmate..",
                    "com.github.victools.jsonschema..",
                    "org.slf4j..")
            .because("an application that only submits and reads results must not need a stage's runtime");
}
