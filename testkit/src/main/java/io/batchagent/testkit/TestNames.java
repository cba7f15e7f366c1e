package io.batchagent.testkit;

import java.lang.reflect.Method;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Unique names for the Kafka resources a test owns, derived from the test: its class's simple name,
 * its method's name (when there is one) and a random suffix, e.g.
 * {@code turnassemblerit-shouldjoinwaits-3f9a1c}.
 *
 * <p>Guarantees: {@link #name()} contains only {@code [a-z0-9-]}, is at most {@value #MAX_NAME_LENGTH}
 * characters long, and differs between two instances made for the same test (the suffix is random,
 * 24 bits), so repeated and parameterised tests do not collide on a shared broker. The derived topic
 * prefix and application id are valid Kafka topic names and Kafka Streams application ids.
 * Immutable and thread-safe.
 */
public final class TestNames {

    /** Leaves room under Kafka's 249-character topic name limit for a topic's own name and suffixes. */
    static final int MAX_NAME_LENGTH = 100;

    private static final int SUFFIX_BYTES = 3;

    private final String name;

    private TestNames(String name) {
        this.name = name;
    }

    /** Names for the test (or test class, in a {@code @BeforeAll} method) that {@code testInfo} describes. */
    public static TestNames of(TestInfo testInfo) {
        Objects.requireNonNull(testInfo, "testInfo");
        return create(testInfo.getTestClass(), testInfo.getTestMethod(), testInfo.getDisplayName());
    }

    /** Names for the test or test class that {@code context} describes. */
    public static TestNames of(ExtensionContext context) {
        Objects.requireNonNull(context, "context");
        return create(context.getTestClass(), context.getTestMethod(), context.getDisplayName());
    }

    /** The unique base name, e.g. {@code turnassemblerit-shouldjoinwaits-3f9a1c}. */
    public String name() {
        return name;
    }

    /**
     * The topic prefix for {@code Topics.create(prefix, config)}: {@link #name()} followed by a dot,
     * e.g. {@code turnassemblerit-shouldjoinwaits-3f9a1c.}.
     */
    public String topicPrefix() {
        return name + ".";
    }

    /** A Kafka Streams application id (also usable as a consumer group id): {@link #name()}. */
    public String applicationId() {
        return name;
    }

    @Override
    public String toString() {
        return name;
    }

    private static TestNames create(Optional<Class<?>> testClass, Optional<Method> testMethod, String displayName) {
        String base = testClass.map(Class::getSimpleName).orElse(displayName)
                + testMethod.map(method -> "-" + method.getName()).orElse("");
        byte[] suffix = new byte[SUFFIX_BYTES];
        ThreadLocalRandom.current().nextBytes(suffix);
        String suffixText = HexFormat.of().formatHex(suffix);
        String sanitised = sanitise(base);
        int maxBaseLength = MAX_NAME_LENGTH - suffixText.length() - 1;
        if (sanitised.length() > maxBaseLength) {
            sanitised = sanitised.substring(0, maxBaseLength);
        }
        return new TestNames(stripDashes(sanitised) + "-" + suffixText);
    }

    /**
     * Lower-cases and replaces every run of characters outside {@code [a-z0-9]} by one dash. Dots
     * and underscores go too: Kafka warns that they collide in metric names.
     */
    static String sanitise(String text) {
        String replaced = text.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-");
        String stripped = stripDashes(replaced);
        return stripped.isEmpty() ? "test" : stripped;
    }

    private static String stripDashes(String text) {
        int start = 0;
        int end = text.length();
        while (start < end && text.charAt(start) == '-') {
            start++;
        }
        while (end > start && text.charAt(end - 1) == '-') {
            end--;
        }
        return text.substring(start, end);
    }
}
