package io.batchagent.bench.chaos;

import io.batchagent.kafka.embedded.EmbeddedKafkaBroker;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * The chaos campaign's broker process: the embedded single-node KRaft broker on fixed ports, so that
 * a restart over the same data directory comes back at the same address. Arguments:
 * {@code <data dir> <port> <controller port>}. Runs until SIGTERM (clean shutdown) or SIGKILL.
 */
public final class BrokerMain {

    private BrokerMain() {}

    public static void main(String[] args) throws InterruptedException {
        EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start(EmbeddedKafkaBroker.Options.builder(Path.of(args[0]))
                .port(Integer.parseInt(args[1]))
                .controllerPort(Integer.parseInt(args[2]))
                // Victims of a SIGKILL leave their groups only by timing out; keep that short.
                .brokerProperty("group.min.session.timeout.ms", "2000")
                .brokerProperty("group.consumer.min.session.timeout.ms", "2000")
                .brokerProperty("group.consumer.session.timeout.ms", "10000")
                .brokerProperty("group.streams.min.session.timeout.ms", "2000")
                .brokerProperty("group.streams.session.timeout.ms", "10000")
                .build());
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            broker.close();
                            stopped.countDown();
                        },
                        "broker-shutdown"));
        System.err.println("chaos broker running " + broker.bootstrapServers());
        stopped.await();
    }
}
