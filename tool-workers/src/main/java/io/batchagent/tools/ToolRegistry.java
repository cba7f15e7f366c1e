package io.batchagent.tools;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The tools installed on a worker, by name. Built once with {@link #builder()}; immutable after,
 * except that {@link #configure} passes deployment options to the tools it holds.
 *
 * <p>Each registry holds its own tool instances ({@link Builder#discover()} instantiates the
 * providers anew), so a registry should serve one worker. Thread-safe.
 */
public final class ToolRegistry {

    private static final Logger LOGGER = LoggerFactory.getLogger(ToolRegistry.class);

    /** The tool-name rule of the OpenAI and Anthropic tool APIs. */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    private final Map<String, Tool> tools;
    private final List<String> names;

    private ToolRegistry(Map<String, Tool> tools) {
        this.tools = Collections.unmodifiableMap(new TreeMap<>(tools));
        this.names = List.copyOf(this.tools.keySet());
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The tool named {@code name}, if installed. */
    public Optional<Tool> find(String name) {
        return Optional.ofNullable(tools.get(name));
    }

    /** The installed tool names, sorted. */
    public List<String> names() {
        return names;
    }

    /**
     * Hands each tool its options: the entries of {@code toolOptions} whose key starts with the
     * tool's name and a dot, with that prefix removed. Options for tools that are not installed are
     * logged and ignored.
     *
     * @throws IllegalArgumentException naming the tool, if a tool rejects its options
     */
    public void configure(Map<String, String> toolOptions) {
        toolOptions.keySet().stream()
                .filter(key -> !tools.containsKey(toolOf(key)))
                .forEach(key -> LOGGER.warn(
                        "tool option {} names no installed tool; installed: {}", key, String.join(", ", names)));
        tools.forEach((name, tool) -> {
            Map<String, String> own = new TreeMap<>();
            toolOptions.forEach((key, value) -> {
                if (toolOf(key).equals(name)) {
                    own.put(key.substring(name.length() + 1), value);
                }
            });
            try {
                tool.configure(Collections.unmodifiableMap(own));
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(
                        "tool '" + name + "' rejected its options " + own.keySet() + ": " + e.getMessage(), e);
            }
        });
    }

    private static String toolOf(String optionKey) {
        int dot = optionKey.indexOf('.');
        return dot < 0 ? optionKey : optionKey.substring(0, dot);
    }

    /** Collects tools; rejects an invalid or duplicate name as soon as it is added. Not thread-safe. */
    public static final class Builder {

        private final Map<String, Tool> tools = new LinkedHashMap<>();

        private Builder() {}

        /** Adds every {@link Tool} provider visible to the thread's context class loader. */
        public Builder discover() {
            return discover(Thread.currentThread().getContextClassLoader());
        }

        /**
         * Adds every {@link Tool} provider visible to {@code loader}.
         *
         * @throws IllegalStateException if a provider cannot be loaded or instantiated
         */
        public Builder discover(ClassLoader loader) {
            List<Tool> found = new ArrayList<>();
            try {
                ServiceLoader.load(Tool.class, loader).forEach(found::add);
            } catch (ServiceConfigurationError e) {
                throw new IllegalStateException(
                        "cannot load a tool listed in META-INF/services/" + Tool.class.getName() + ": "
                                + e.getMessage(),
                        e);
            }
            found.forEach(this::add);
            return this;
        }

        /**
         * Adds {@code tool}.
         *
         * @throws IllegalArgumentException if its name is invalid or another tool has it
         */
        public Builder add(Tool tool) {
            Objects.requireNonNull(tool, "tool");
            String name = tool.name();
            if (name == null || !NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("tool " + tool.getClass().getName() + " has an invalid name '" + name
                        + "': use 1 to 64 characters from [A-Za-z0-9_-]");
            }
            Tool existing = tools.putIfAbsent(name, tool);
            if (existing != null) {
                throw new IllegalArgumentException("two tools are named '" + name + "': "
                        + existing.getClass().getName() + " and "
                        + tool.getClass().getName()
                        + "; tool names must be unique on a worker");
            }
            return this;
        }

        public ToolRegistry build() {
            return new ToolRegistry(tools);
        }
    }
}
