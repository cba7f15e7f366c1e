package io.batchagent.testkit;

import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * A JUnit 5 extension that gives tests a real Kafka broker: it resolves constructor, lifecycle-method
 * and test-method parameters of type {@link KafkaCluster}. Use it through {@link WithKafka} or
 * {@code @ExtendWith(EmbeddedKafkaExtension.class)}.
 *
 * <p>One broker serves the whole test JVM. It starts when a test first asks for a
 * {@link KafkaCluster} (classes that never ask cost nothing), over a fresh temporary data directory,
 * and lives in the root extension context's store: JUnit closes it, and the directory is deleted,
 * when the root context closes at the end of the test run. Tests therefore share the broker and must
 * own their topics and ids ({@link TestNames}). Safe under parallel test execution.
 */
public final class EmbeddedKafkaExtension implements ParameterResolver {

    private static final ExtensionContext.Namespace NAMESPACE =
            ExtensionContext.Namespace.create(EmbeddedKafkaExtension.class);
    private static final String CLUSTER_KEY = "cluster";

    @Override
    public boolean supportsParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        return parameterContext.getParameter().getType() == KafkaCluster.class;
    }

    @Override
    public KafkaCluster resolveParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        try {
            return cluster(extensionContext);
        } catch (RuntimeException e) {
            throw new ParameterResolutionException("cannot start the embedded Kafka broker: " + e.getMessage(), e);
        }
    }

    /** The JVM's shared cluster, started on first call. */
    static KafkaCluster cluster(ExtensionContext context) {
        return context.getRoot()
                .getStore(NAMESPACE)
                .getOrComputeIfAbsent(CLUSTER_KEY, key -> SharedKafkaCluster.start(), SharedKafkaCluster.class);
    }
}
