package io.batchagent.cli;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/** The stages of the pipeline; each can run in its own process ({@code batchagent worker --role}). */
public enum Stage {
    JOB_COMPILER,
    COALESCER,
    ASSEMBLER,
    WORKFLOW,
    INFERENCE,
    TOOLS;

    /** The command-line name, e.g. {@code job-compiler}. */
    public String roleName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** Whether the stage is a Kafka Streams application (the others are plain consumer-group workers). */
    public boolean isStreamsApp() {
        return this != INFERENCE && this != TOOLS;
    }

    /** Parses a role name, or {@code all}. */
    public static Set<Stage> parseRole(String role) {
        if (role.equalsIgnoreCase("all")) {
            return EnumSet.allOf(Stage.class);
        }
        if (role.equalsIgnoreCase("topology")) {
            return EnumSet.of(JOB_COMPILER, COALESCER, ASSEMBLER, WORKFLOW);
        }
        for (Stage stage : values()) {
            if (stage.roleName().equalsIgnoreCase(role)) {
                return EnumSet.of(stage);
            }
        }
        throw new IllegalArgumentException("unknown role '" + role + "'; roles: all, topology, "
                + Arrays.stream(values()).map(Stage::roleName).collect(Collectors.joining(", ")));
    }
}
