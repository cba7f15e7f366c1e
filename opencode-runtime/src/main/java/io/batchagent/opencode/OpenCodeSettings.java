package io.batchagent.opencode;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * Settings of an {@link OpenCodeRuntime}. A null argument takes the default.
 *
 * @param executable the {@code opencode} program: a path, or a name looked up on {@code PATH}. Default
 *     {@value #DEFAULT_EXECUTABLE} (installed by {@code npm i -g opencode-ai@1.18.33}, see
 *     {@code install-opencode.sh}).
 * @param model the model name the gateway's backend serves; OpenCode is told to use it as
 *     {@code batchagent/<model>}. Required.
 * @param maxSessions OpenCode sessions running at once. Each takes about 3.5 CPU-seconds and 550 MB. At
 *     least 1. Default {@value #DEFAULT_MAX_SESSIONS}.
 * @param sessionTimeout how long one session may run before it is stopped and its job fails with TIMEOUT,
 *     unless the job carries its own deadline. Positive. Default 30 min.
 * @param workDir where per-job directories are made (each holds the job's {@code workspace/} and the
 *     session's {@code home/}). Default {@code <java.io.tmpdir>/batchagent-opencode/jobs}.
 * @param sharedPath the one path at which every session sees its own job directory (a private bind mount
 *     in the session's mount namespace), so that OpenCode's system prompt, which ends with the working
 *     directory, is identical for every session. Must be absolute; created if missing; nothing is ever
 *     written to it outside a session. Default {@value #DEFAULT_SHARED_PATH}.
 * @param isolation how sessions are sandboxed; default {@link Isolation#AUTO}
 * @param contextTokens the model's context window, told to OpenCode as {@code limit.context} (without it,
 *     OpenCode asks for 32,000 output tokens). At least 1,024. Default {@value #DEFAULT_CONTEXT_TOKENS}.
 * @param outputTokens the most tokens one model call may generate, told to OpenCode as {@code limit.output}.
 *     At least 1 and below {@code contextTokens}. Default {@value #DEFAULT_OUTPUT_TOKENS}.
 * @param keepWorkspaces keep each job's directory after its session (for inspection); default false
 * @param stderrTailChars how much of a failed session's standard error its job's error message quotes.
 *     Default {@value #DEFAULT_STDERR_TAIL_CHARS}.
 * @param transcriptChars the most characters of a session's transcript kept in its result; longer tool
 *     outputs and texts are cut first. Default {@value #DEFAULT_TRANSCRIPT_CHARS}.
 */
public record OpenCodeSettings(
        String executable,
        String model,
        Integer maxSessions,
        Duration sessionTimeout,
        Path workDir,
        Path sharedPath,
        Isolation isolation,
        Integer contextTokens,
        Integer outputTokens,
        Boolean keepWorkspaces,
        Integer stderrTailChars,
        Integer transcriptChars) {

    public static final String DEFAULT_EXECUTABLE = "opencode";
    public static final int DEFAULT_MAX_SESSIONS = 4;
    public static final Duration DEFAULT_SESSION_TIMEOUT = Duration.ofMinutes(30);
    public static final String DEFAULT_SHARED_PATH = "/tmp/batchagent-opencode/session";
    public static final int DEFAULT_CONTEXT_TOKENS = 32_768;
    public static final int DEFAULT_OUTPUT_TOKENS = 4_096;
    public static final int DEFAULT_STDERR_TAIL_CHARS = 4_000;
    public static final int DEFAULT_TRANSCRIPT_CHARS = 200_000;

    /** How sessions are kept apart. */
    public enum Isolation {
        /**
         * Each session in its own mount and PID namespace ({@code unshare}): its job directory is bind-mounted
         * at {@link #sharedPath()}, and when the session's process ends, the kernel ends every process it
         * left. Needs root, or unprivileged user namespaces.
         */
        NAMESPACE,
        /**
         * Plain subprocesses in their own process group, each in its own directory (prompts then differ in
         * the working directory); the process group is killed when the session ends.
         */
        NONE,
        /** {@link #NAMESPACE} where this machine allows it (probed once), else {@link #NONE}, with a warning. */
        AUTO
    }

    public OpenCodeSettings {
        executable = executable == null || executable.isBlank() ? DEFAULT_EXECUTABLE : executable;
        Objects.requireNonNull(model, "model");
        maxSessions = maxSessions == null ? DEFAULT_MAX_SESSIONS : maxSessions;
        sessionTimeout = sessionTimeout == null ? DEFAULT_SESSION_TIMEOUT : sessionTimeout;
        workDir = workDir == null
                ? Path.of(System.getProperty("java.io.tmpdir"), "batchagent-opencode", "jobs")
                : workDir;
        sharedPath = sharedPath == null ? Path.of(DEFAULT_SHARED_PATH) : sharedPath;
        isolation = isolation == null ? Isolation.AUTO : isolation;
        contextTokens = contextTokens == null ? DEFAULT_CONTEXT_TOKENS : contextTokens;
        outputTokens = outputTokens == null ? DEFAULT_OUTPUT_TOKENS : outputTokens;
        keepWorkspaces = keepWorkspaces != null && keepWorkspaces;
        stderrTailChars = stderrTailChars == null ? DEFAULT_STDERR_TAIL_CHARS : stderrTailChars;
        transcriptChars = transcriptChars == null ? DEFAULT_TRANSCRIPT_CHARS : transcriptChars;

        if (model.isBlank()) {
            throw new IllegalArgumentException("model must not be blank");
        }
        if (maxSessions < 1) {
            throw new IllegalArgumentException("maxSessions must be at least 1, got " + maxSessions);
        }
        if (sessionTimeout.isNegative() || sessionTimeout.isZero()) {
            throw new IllegalArgumentException("sessionTimeout must be positive, got " + sessionTimeout);
        }
        if (!sharedPath.isAbsolute()) {
            throw new IllegalArgumentException("sharedPath must be absolute, got " + sharedPath);
        }
        if (contextTokens < 1_024) {
            throw new IllegalArgumentException("contextTokens must be at least 1024, got " + contextTokens);
        }
        if (outputTokens < 1 || outputTokens >= contextTokens) {
            throw new IllegalArgumentException("outputTokens must be at least 1 and below contextTokens ("
                    + contextTokens + "), got " + outputTokens);
        }
        if (stderrTailChars < 0 || transcriptChars < 1_000) {
            throw new IllegalArgumentException("stderrTailChars must be at least 0 and transcriptChars at least 1000");
        }
    }

    /** Defaults for everything but the model. */
    public static OpenCodeSettings forModel(String model) {
        return new OpenCodeSettings(null, model, null, null, null, null, null, null, null, null, null, null);
    }

    public OpenCodeSettings withExecutable(String value) {
        return new OpenCodeSettings(
                value,
                model,
                maxSessions,
                sessionTimeout,
                workDir,
                sharedPath,
                isolation,
                contextTokens,
                outputTokens,
                keepWorkspaces,
                stderrTailChars,
                transcriptChars);
    }

    public OpenCodeSettings withMaxSessions(int value) {
        return new OpenCodeSettings(
                executable,
                model,
                value,
                sessionTimeout,
                workDir,
                sharedPath,
                isolation,
                contextTokens,
                outputTokens,
                keepWorkspaces,
                stderrTailChars,
                transcriptChars);
    }

    public OpenCodeSettings withSessionTimeout(Duration value) {
        return new OpenCodeSettings(
                executable,
                model,
                maxSessions,
                value,
                workDir,
                sharedPath,
                isolation,
                contextTokens,
                outputTokens,
                keepWorkspaces,
                stderrTailChars,
                transcriptChars);
    }

    public OpenCodeSettings withWorkDir(Path value) {
        return new OpenCodeSettings(
                executable,
                model,
                maxSessions,
                sessionTimeout,
                value,
                sharedPath,
                isolation,
                contextTokens,
                outputTokens,
                keepWorkspaces,
                stderrTailChars,
                transcriptChars);
    }

    public OpenCodeSettings withSharedPath(Path value) {
        return new OpenCodeSettings(
                executable,
                model,
                maxSessions,
                sessionTimeout,
                workDir,
                value,
                isolation,
                contextTokens,
                outputTokens,
                keepWorkspaces,
                stderrTailChars,
                transcriptChars);
    }

    public OpenCodeSettings withIsolation(Isolation value) {
        return new OpenCodeSettings(
                executable,
                model,
                maxSessions,
                sessionTimeout,
                workDir,
                sharedPath,
                value,
                contextTokens,
                outputTokens,
                keepWorkspaces,
                stderrTailChars,
                transcriptChars);
    }

    public OpenCodeSettings withLimits(int context, int output) {
        return new OpenCodeSettings(
                executable,
                model,
                maxSessions,
                sessionTimeout,
                workDir,
                sharedPath,
                isolation,
                context,
                output,
                keepWorkspaces,
                stderrTailChars,
                transcriptChars);
    }

    public OpenCodeSettings withKeepWorkspaces(boolean value) {
        return new OpenCodeSettings(
                executable,
                model,
                maxSessions,
                sessionTimeout,
                workDir,
                sharedPath,
                isolation,
                contextTokens,
                outputTokens,
                value,
                stderrTailChars,
                transcriptChars);
    }
}
