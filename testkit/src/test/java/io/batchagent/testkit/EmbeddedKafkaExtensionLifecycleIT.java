package io.batchagent.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.testkit.engine.EngineTestKit;

/**
 * Runs two test classes in a separate JUnit execution, as a build runs a module's tests, and checks
 * that they shared one broker and that the broker stopped when the execution ended.
 */
class EmbeddedKafkaExtensionLifecycleIT {

    private static final String INNER_RUN = "batchagent.testkit.innerRun";
    private static final Queue<String> BOOTSTRAP_SERVERS_SEEN = new ConcurrentLinkedQueue<>();

    @Test
    void shouldShareOneBrokerBetweenTestClassesAndStopItWhenTheRunEnds() {
        // When
        EngineTestKit.engine("junit-jupiter")
                .configurationParameter(INNER_RUN, "true")
                .selectors(selectClass(FirstKafkaUser.class), selectClass(SecondKafkaUser.class))
                .execute()
                .testEvents()
                .assertStatistics(stats -> stats.started(2).succeeded(2).failed(0));

        // Then
        List<String> seen = List.copyOf(BOOTSTRAP_SERVERS_SEEN);
        assertThat(seen).hasSize(2);
        assertThat(seen.get(1)).isEqualTo(seen.get(0));
        String[] hostAndPort = seen.get(0).split(":");
        assertThatThrownBy(() -> {
                    try (Socket socket = new Socket()) {
                        socket.connect(new InetSocketAddress(hostAndPort[0], Integer.parseInt(hostAndPort[1])), 5_000);
                    }
                })
                .isInstanceOf(ConnectException.class);
    }

    /** Lets the inner classes run only inside the test above, never on their own. */
    static final class OnlyInInnerRun implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            return context.getConfigurationParameter(INNER_RUN).isPresent()
                    ? ConditionEvaluationResult.enabled("inner run")
                    : ConditionEvaluationResult.disabled("runs only inside EmbeddedKafkaExtensionLifecycleIT");
        }
    }

    @WithKafka
    @ExtendWith(OnlyInInnerRun.class)
    static class FirstKafkaUser {
        @Test
        void usesKafka(KafkaCluster cluster) throws Exception {
            assertThat(cluster.admin().describeCluster().nodes().get()).hasSize(1);
            BOOTSTRAP_SERVERS_SEEN.add(cluster.bootstrapServers());
        }
    }

    @WithKafka
    @ExtendWith(OnlyInInnerRun.class)
    static class SecondKafkaUser {
        @Test
        void usesKafka(KafkaCluster cluster) throws Exception {
            assertThat(cluster.admin().describeCluster().nodes().get()).hasSize(1);
            BOOTSTRAP_SERVERS_SEEN.add(cluster.bootstrapServers());
        }
    }
}
