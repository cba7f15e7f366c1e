package io.batchagent.cli;

import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** Starts {@code batchagent worker --role inference} as a separate JVM, to be killed by a test. */
final class WorkerProcess {

    private WorkerProcess() {}

    static Process startInference(KafkaCluster kafka, TestNames names, String engineUrl, Path stateDir)
            throws IOException {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command = List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx512m",
                "-cp",
                classPath,
                BatchAgentCommand.class.getName(),
                "worker",
                "--role",
                "inference",
                "--bootstrap-servers",
                kafka.bootstrapServers(),
                "--backend",
                engineUrl,
                "--topic-prefix",
                names.topicPrefix(),
                "--max-inflight",
                "4",
                "--state-dir",
                stateDir.toString(),
                "--kafka",
                "session.timeout.ms=6000",
                "--kafka",
                "heartbeat.interval.ms=1000");
        return new ProcessBuilder(command).inheritIO().start();
    }
}
