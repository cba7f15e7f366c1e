package io.batchagent.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class TestNamesTest {

    /** Kafka's rule for topic names. */
    private static final String LEGAL_TOPIC_NAME = "[a-zA-Z0-9._-]{1,249}";

    @Test
    void shouldDeriveTheNameFromClassAndMethodWithARandomSuffix(TestInfo testInfo) {
        // When
        TestNames names = TestNames.of(testInfo);

        // Then
        assertThat(names.name())
                .matches("testnamestest-shouldderivethenamefromclassandmethodwitharandomsuffix-[0-9a-f]{6}");
        assertThat(names.applicationId()).isEqualTo(names.name());
        assertThat(names.topicPrefix()).isEqualTo(names.name() + ".");
    }

    @Test
    void shouldGiveEveryInstanceItsOwnName(TestInfo testInfo) {
        assertThat(TestNames.of(testInfo).name())
                .isNotEqualTo(TestNames.of(testInfo).name());
    }

    @ParameterizedTest
    @MethodSource("awkwardNames")
    void shouldAlwaysMakeAValidKafkaName(String text) {
        // When
        String sanitised = TestNames.sanitise(text);

        // Then
        assertThat(sanitised).matches("[a-z0-9]([a-z0-9-]*[a-z0-9])?");
        assertThat(sanitised + "-abcdef.agent-jobs").matches(LEGAL_TOPIC_NAME);
    }

    static List<String> awkwardNames() {
        return List.of("Under_Score", "dots.and spaces", "ünïcödé", "--", "[1] x=\"a\"", "");
    }

    @Test
    void shouldKeepLongNamesWithinTheLimit(TestInfo testInfo) {
        // Given a very long method name
        TestNames names = TestNames.of(new LongNamedTestInfo(testInfo));

        // Then
        assertThat(names.name())
                .hasSizeLessThanOrEqualTo(TestNames.MAX_NAME_LENGTH)
                .matches("[a-z0-9-]+");
        assertThat(names.topicPrefix() + "tool-responses").matches(LEGAL_TOPIC_NAME);
    }

    private record LongNamedTestInfo(TestInfo delegate) implements TestInfo {
        @Override
        public String getDisplayName() {
            return delegate.getDisplayName();
        }

        @Override
        public java.util.Set<String> getTags() {
            return delegate.getTags();
        }

        @Override
        public java.util.Optional<Class<?>> getTestClass() {
            return java.util.Optional.of(
                    AVeryLongClassNameThatKeepsGoingAndGoingAndGoingAndGoingAndGoingAndGoingAndGoing.class);
        }

        @Override
        public java.util.Optional<java.lang.reflect.Method> getTestMethod() {
            return delegate.getTestMethod();
        }
    }

    private static final class AVeryLongClassNameThatKeepsGoingAndGoingAndGoingAndGoingAndGoingAndGoingAndGoing {}
}
