package io.batchagent.cli;

import io.batchagent.kafka.embedded.EmbeddedKafkaBroker;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code batchagent broker}: the single-node KRaft broker that {@code batchagent run} embeds, as a
 * process of its own, so that the distributed layout (a process per role, clients that run no
 * stage) works on one machine with nothing else installed. It runs until stopped; SIGTERM or
 * Ctrl-C shut it down cleanly (its log is flushed and marked clean, its data directory released).
 */
@Command(
        name = "broker",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Run a single-node Kafka broker (KRaft, the one 'run' embeds) until stopped, for workers and "
                    + "clients on this machine. Prints its bootstrap address on stdout once it answers.",
            "Stop it with Ctrl-C or SIGTERM: it shuts down cleanly and a later start resumes its data."
        })
final class BrokerCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(
            names = "--data-dir",
            defaultValue = "data",
            paramLabel = "DIR",
            description =
                    "The broker keeps its log in DIR/kafka, where 'batchagent run --data-dir DIR' keeps its embedded "
                            + "broker's, so either can open the other's topics (not both at once) (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(
            names = "--port",
            defaultValue = "9092",
            description = "Client port on 127.0.0.1; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(
            names = "--controller-port",
            defaultValue = "0",
            description = "KRaft controller port on 127.0.0.1; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int controllerPort;

    @Option(
            names = "--broker-property",
            paramLabel = "KEY=VALUE",
            description = "A broker setting applied over the defaults, e.g. message.max.bytes=4194304.")
    Map<String, String> brokerProperties = new LinkedHashMap<>();

    @Override
    public Integer call() throws InterruptedException {
        Path logDir = dataDir.resolve("kafka");
        // Checked first: Kafka reports a taken port with pages of stack traces, and would retry.
        requireFree(port, "--port");
        requireFree(controllerPort, "--controller-port");
        EmbeddedKafkaBroker broker;
        try {
            broker = EmbeddedKafkaBroker.start(EmbeddedKafkaBroker.Options.builder(logDir)
                    .port(port)
                    .controllerPort(controllerPort)
                    .brokerProperties(brokerProperties)
                    .build());
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage(), e, null, null);
        } catch (RuntimeException e) {
            if (causedBy(e, BindException.class)) {
                throw new IllegalArgumentException(
                        "port " + port + " is in use (is a broker already running?); "
                                + "give another with --port, or 0 for any free port",
                        e);
            }
            if (e instanceof IllegalStateException
                    && String.valueOf(e.getMessage()).contains("in use")) {
                throw new IllegalArgumentException(
                        logDir.toAbsolutePath() + " is in use by another broker or 'batchagent run'; "
                                + "stop it or give another --data-dir",
                        e);
            }
            throw e;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            broker.close();
                            stopped.countDown();
                        },
                        "broker-shutdown"));
        spec.commandLine().getOut().println(broker.bootstrapServers());
        spec.commandLine().getOut().flush();
        spec.commandLine()
                .getErr()
                .println("batchagent broker: Kafka " + broker.bootstrapServers() + " (cluster " + broker.clusterId()
                        + ", data in " + broker.dataDir() + "); stop with Ctrl-C or SIGTERM");
        spec.commandLine().getErr().flush();
        stopped.await();
        return BatchAgentCommand.EXIT_OK;
    }

    private static void requireFree(int port, String option) {
        if (port == 0) {
            return;
        }
        try (ServerSocket socket = new ServerSocket()) {
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    "port " + port + " is in use (is a broker already running?); give another " + "with " + option
                            + ", or 0 for any free port",
                    e);
        }
    }

    private static boolean causedBy(Throwable e, Class<? extends Throwable> type) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (type.isInstance(t)) {
                return true;
            }
        }
        return false;
    }
}
