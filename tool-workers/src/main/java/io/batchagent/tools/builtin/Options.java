package io.batchagent.tools.builtin;

import java.time.Duration;
import java.util.Map;

/** Reading tool options, with errors that name the option. */
final class Options {

    private Options() {}

    static int positiveInt(Map<String, String> options, String key, int current) {
        String value = options.get(key);
        if (value == null) {
            return current;
        }
        try {
            int parsed = Integer.parseInt(value.trim());
            if (parsed < 1) {
                throw new IllegalArgumentException(key + " must be at least 1, got " + parsed);
            }
            return parsed;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be an integer, got '" + value + "'", e);
        }
    }

    static Duration millis(Map<String, String> options, String key, Duration current) {
        String value = options.get(key);
        if (value == null) {
            return current;
        }
        try {
            long parsed = Long.parseLong(value.trim());
            if (parsed < 1) {
                throw new IllegalArgumentException(key + " must be at least 1 ms, got " + parsed);
            }
            return Duration.ofMillis(parsed);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be a whole number of milliseconds, got '" + value + "'", e);
        }
    }

    /**
     * A secret: the option {@code key} itself, or the environment variable that the option
     * {@code key + ".env"} names (preferred: it keeps the secret off command lines and out of config
     * files). Null if neither is set.
     */
    static String secret(Map<String, String> options, String key) {
        String envName = options.get(key + ".env");
        if (envName != null) {
            String value = System.getenv(envName.trim());
            if (value == null) {
                throw new IllegalArgumentException(
                        key + ".env names the environment variable " + envName.trim() + ", which is not set");
            }
            return value;
        }
        return options.get(key);
    }
}
