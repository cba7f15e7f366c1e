package io.batchagent.opencode;

import io.batchagent.opencode.OpenCodeSettings.Isolation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where and how a session's process runs.
 *
 * <p>{@link Isolation#NAMESPACE}: {@code unshare --mount --propagation private --pid --fork --kill-child
 * --mount-proc} (plus {@code --user --map-root-user} when not root), then a small shell that bind-mounts
 * the job's directory at the shared path, enters {@code <shared path>/workspace} and runs OpenCode. Every
 * session therefore sees the same working directory, so OpenCode's system prompt (which ends with it) is
 * identical across sessions; and the shell is PID 1 of the session's own PID namespace, so when OpenCode
 * ends and the shell exits, or {@code unshare} is killed, the kernel kills every process the session left. The bind mount is
 * private to the session and disappears with it; the host sees only the empty mount point.
 *
 * <p>{@link Isolation#NONE}: OpenCode is started through {@code setsid} in the job's own directory, and
 * its process group is killed when the session ends.
 *
 * <p>Immutable and thread-safe.
 */
final class SessionSandbox {

    private static final Logger LOGGER = LoggerFactory.getLogger(SessionSandbox.class);
    /**
     * Runs as PID 1 of the session's namespace: binds the job directory at the shared path, runs OpenCode,
     * and reports a death by signal (unshare itself cannot pass one on), then exits, which ends every
     * process left in the namespace.
     */
    private static final String BIND_AND_RUN =
            "mount --bind \"$1\" \"$2\" && cd \"$2/workspace\" && shift 2 || exit 125\n"
                    + "\"$@\"\n"
                    + "status=$?\n"
                    + "if [ \"$status\" -gt 128 ]; then echo \"batchagent: the session's process was killed by signal $((status - 128))\" >&2; fi\n"
                    + "exit \"$status\"\n";

    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(15);

    private final Isolation mode;
    private final Path sharedPath;
    private final List<String> unshare;

    private SessionSandbox(Isolation mode, Path sharedPath, List<String> unshare) {
        this.mode = mode;
        this.sharedPath = sharedPath;
        this.unshare = List.copyOf(unshare);
    }

    /**
     * The sandbox {@code settings} ask for; {@link Isolation#AUTO} probes whether this machine lets a
     * process bind-mount in a new mount and PID namespace (as root, else in a user namespace), and falls back
     * to {@link Isolation#NONE} with a warning. {@link Isolation#NAMESPACE} fails here when it cannot work.
     */
    static SessionSandbox choose(OpenCodeSettings settings) {
        Path shared = settings.sharedPath();
        if (settings.isolation() == Isolation.NONE) {
            return new SessionSandbox(Isolation.NONE, shared, List.of());
        }
        try {
            Files.createDirectories(shared);
        } catch (IOException e) {
            throw new IllegalStateException(
                    "cannot create the shared session path " + shared + ": " + e.getMessage(), e);
        }
        List<String> base = List.of(
                "unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--mount-proc");
        List<String> asUser = new ArrayList<>(base);
        asUser.addAll(1, List.of("--user", "--map-root-user"));
        String whyNot = "";
        for (List<String> candidate : List.of(base, asUser)) {
            String failure = probe(candidate, shared, settings.workDir());
            if (failure == null) {
                LOGGER.info(
                        "OpenCode sessions run in their own mount and PID namespaces, each seeing its workspace at {}/workspace",
                        shared);
                return new SessionSandbox(Isolation.NAMESPACE, shared, candidate);
            }
            whyNot = failure;
        }
        if (settings.isolation() == Isolation.NAMESPACE) {
            throw new IllegalStateException(
                    "OpenCode sessions cannot run in a mount namespace on this machine: " + whyNot);
        }
        LOGGER.warn(
                "OpenCode sessions run without namespaces ({}): each sees its own directory, so their prompts share "
                        + "only the part before the working directory",
                whyNot);
        return new SessionSandbox(Isolation.NONE, shared, List.of());
    }

    /** Null when {@code unshare} works here, else why not. */
    private static String probe(List<String> unshare, Path shared, Path workDir) {
        Path scratch = null;
        try {
            Files.createDirectories(workDir);
            scratch = Files.createTempDirectory(workDir, "probe-");
            Files.createDirectories(scratch.resolve("workspace"));
            List<String> command = new ArrayList<>(unshare);
            command.addAll(List.of("sh", "-c", BIND_AND_RUN, "sh", scratch.toString(), shared.toString(), "true"));
            Process process =
                    new ProcessBuilder(command).redirectErrorStream(true).start();
            process.getOutputStream().close();
            if (!process.waitFor(PROBE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                ProcessTrees.kill(process.toHandle(), Duration.ofSeconds(5));
                return "unshare did not finish within " + PROBE_TIMEOUT.toSeconds() + " s";
            }
            String output = new String(process.getInputStream().readAllBytes()).trim();
            return process.exitValue() == 0
                    ? null
                    : "unshare exited with " + process.exitValue() + (output.isEmpty() ? "" : ": " + output);
        } catch (IOException e) {
            return "unshare could not be started: " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted while probing unshare";
        } finally {
            if (scratch != null) {
                Workspaces.deleteQuietly(scratch);
            }
        }
    }

    Isolation mode() {
        return mode;
    }

    /** The job directory as the session sees it. */
    Path visibleJobDir(Path jobDir) {
        return mode == Isolation.NAMESPACE ? sharedPath : jobDir;
    }

    /** A process builder for {@code argv} (OpenCode's command line) run as a session over {@code jobDir}. */
    ProcessBuilder command(Path jobDir, List<String> argv) {
        List<String> command = new ArrayList<>();
        if (mode == Isolation.NAMESPACE) {
            command.addAll(unshare);
            command.addAll(List.of("sh", "-c", BIND_AND_RUN, "sh", jobDir.toString(), sharedPath.toString()));
            command.addAll(argv);
            return new ProcessBuilder(command).directory(jobDir.toFile());
        }
        command.add("setsid");
        command.addAll(argv);
        return new ProcessBuilder(command).directory(jobDir.resolve("workspace").toFile());
    }

    /**
     * Ends whatever the session left running once its process is gone: nothing to do in a PID namespace
     * (the kernel has done it); the process group otherwise.
     */
    void sweep(ProcessHandle session) {
        if (mode == Isolation.NAMESPACE) {
            return;
        }
        try {
            Process kill = new ProcessBuilder("kill", "-KILL", "--", "-" + session.pid())
                    .redirectErrorStream(true)
                    .start();
            kill.getInputStream().readAllBytes();
            kill.waitFor(5, TimeUnit.SECONDS);
        } catch (IOException e) {
            LOGGER.warn(
                    "cannot kill the process group of a finished session: pid={} cause={}",
                    session.pid(),
                    e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
