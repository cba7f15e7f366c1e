package io.batchagent.opencode;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.events.WarmUpOutcome;
import io.batchagent.gateway.Gateway;
import io.batchagent.gateway.JobUsage;
import io.batchagent.inference.WarmUpReport;
import io.batchagent.opencode.OpenCodeSettings.Isolation;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs OpenCode sessions as jobs: one {@code opencode run --format json} subprocess per job, at most
 * {@link OpenCodeSettings#maxSessions()} at once, each in its own job directory (the job's files copied
 * into {@code workspace/}, OpenCode's state in {@code home/}), pointed at the {@link Gateway} through
 * {@code OPENCODE_CONFIG_CONTENT}: a provider {@code batchagent} using {@code @ai-sdk/openai-compatible}
 * whose {@code baseURL} is the gateway's URL for that job, so that its model calls are bounded,
 * prioritised and accounted to the job.
 *
 * <p><b>Same prompt for every session.</b> OpenCode ends its system prompt with the working directory; with
 * {@link Isolation#NAMESPACE} every session runs in its own mount namespace with its job directory mounted
 * at {@link OpenCodeSettings#sharedPath()}, so every session's prompt is identical up to its task (see
 * {@link SessionSandbox}). {@link #warmUp(String)} then warms that prefix once, through the gateway, before
 * a batch fans out.
 *
 * <p><b>Environment.</b> A session gets a minimal environment, not the JVM's (no credentials leak into the
 * agent's shell): {@code PATH}, {@code HOME} and the XDG directories under its {@code home/}, {@code TMPDIR},
 * OpenCode's switches that keep it off the network ({@code OPENCODE_DISABLE_AUTOUPDATE},
 * {@code _SHARE}, {@code _MODELS_FETCH}, {@code _LSP_DOWNLOAD}, and {@code npm_config_offline}, since OpenCode
 * otherwise looks its plugin package up in the npm registry), and the configuration. The task goes in on
 * standard input (it never appears in a process listing); {@code --title} spares a title request.
 *
 * <p><b>Ending.</b> A session that exits with an answer succeeds; one that crashes, is killed, reports an
 * error or gives no answer fails its job with the reason and the tail of its standard error; one that runs
 * past its deadline is killed and fails with TIMEOUT; a cancelled one ends CANCELLED. In every case the
 * session's whole process tree is killed and awaited before the result is returned (with namespaces the
 * kernel also ends anything that escaped the tree), and its job directory is removed unless
 * {@link OpenCodeSettings#keepWorkspaces()}.
 *
 * <p>Thread-safe. {@link #close()} kills running sessions and waits for them.
 */
public final class OpenCodeRuntime implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(OpenCodeRuntime.class);
    static final String PROVIDER = "batchagent";
    private static final String WARM_UP_MESSAGE = "BatchAgent warm-up: reply OK.";
    private static final Duration KILL_WAIT = Duration.ofSeconds(15);
    private static final Duration READER_WAIT = Duration.ofSeconds(5);

    /** One running session. */
    private static final class Session {
        final CompletableFuture<SessionResult> result = new CompletableFuture<>();
        volatile Process process;
        volatile boolean cancelled;
    }

    private final OpenCodeSettings settings;
    private final Gateway gateway;
    private final SessionSandbox sandbox;
    private final ExecutorService sessions;
    private final ExecutorService io;
    private final Map<String, Session> running = new ConcurrentHashMap<>();
    private final Map<String, CompletableFuture<WarmUpReport>> warmUps = new ConcurrentHashMap<>();
    private volatile boolean closed;

    /**
     * @param gateway where sessions send their model calls; not closed by the runtime
     * @throws IllegalStateException if {@link Isolation#NAMESPACE} was asked for and cannot work here
     */
    public OpenCodeRuntime(OpenCodeSettings settings, Gateway gateway) {
        this.settings = settings;
        this.gateway = gateway;
        this.sandbox = SessionSandbox.choose(settings);
        this.sessions =
                Executors.newFixedThreadPool(settings.maxSessions(), daemonThreads("batchagent-opencode-session"));
        this.io = Executors.newCachedThreadPool(daemonThreads("batchagent-opencode-io"));
    }

    /** The OpenCode program found on {@code PATH} (or at {@code nameOrPath} itself), if any. */
    public static Optional<Path> findExecutable(String nameOrPath) {
        Path direct = Path.of(nameOrPath);
        if (nameOrPath.contains("/")) {
            return Files.isExecutable(direct) ? Optional.of(direct) : Optional.empty();
        }
        String path = System.getenv("PATH");
        if (path == null) {
            return Optional.empty();
        }
        for (String dir : path.split(java.io.File.pathSeparator)) {
            Path candidate = Path.of(dir, nameOrPath);
            if (!dir.isEmpty() && Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    /** The isolation sessions actually run with (AUTO resolved). */
    public Isolation isolation() {
        return sandbox.mode();
    }

    public OpenCodeSettings settings() {
        return settings;
    }

    /** Sessions running now. */
    public int running() {
        return running.size();
    }

    /**
     * Runs {@code job}'s session when a session slot is free. Never completes exceptionally: every failure
     * is in the result. A job whose session is already running gets that session's result.
     */
    public CompletableFuture<SessionResult> submit(OpenCodeJob job) {
        return start(job, gateway.jobBaseUrl(job.batchId(), job.jobId()));
    }

    private CompletableFuture<SessionResult> start(OpenCodeJob job, String baseUrl) {
        if (closed) {
            throw new IllegalStateException("the OpenCode runtime is closed");
        }
        Session fresh = new Session();
        Session known = running.putIfAbsent(job.jobId(), fresh);
        if (known != null) {
            return known.result;
        }
        CompletableFuture.supplyAsync(() -> runSession(job, baseUrl, fresh), sessions)
                .whenComplete((result, error) -> {
                    running.remove(job.jobId(), fresh);
                    fresh.result.complete(
                            result != null
                                    ? result
                                    : failed(
                                            job,
                                            ErrorReason.OTHER,
                                            "the session failed unexpectedly: " + error,
                                            null,
                                            0,
                                            Optional.empty()));
                });
        return fresh.result;
    }

    /**
     * Warms {@code batchId}'s shared prefix once: a session whose calls go to the gateway's warm-up path, which
     * prefills OpenCode's system prompt and tools at the engine, verifies that the engine cached them, and
     * ends the session with its first call. Later calls for the same batch get the same report. Never
     * completes exceptionally.
     */
    public CompletableFuture<WarmUpReport> warmUp(String batchId) {
        return warmUps.computeIfAbsent(batchId, id -> {
            OpenCodeJob job = OpenCodeJob.of(Gateway.WARM_UP_JOB_PREFIX + id, id, WARM_UP_MESSAGE)
                    .withDeadline(
                            settings.sessionTimeout().compareTo(Duration.ofMinutes(5)) < 0
                                    ? settings.sessionTimeout()
                                    : Duration.ofMinutes(5));
            return start(job, gateway.warmUpBaseUrl(id))
                    .thenApply(session -> gateway.warmUpReport(id)
                            .orElseGet(() -> new WarmUpReport(
                                    id,
                                    WarmUpOutcome.FAILED,
                                    0,
                                    0,
                                    0,
                                    session.wallMs(),
                                    "the warm-up session made no call to the gateway: "
                                            + (session.errorMessage() == null
                                                    ? "no error reported"
                                                    : session.errorMessage()))));
        });
    }

    /** Stops {@code jobId}'s session if it is running; its result is CANCELLED. */
    public boolean cancel(String jobId) {
        Session session = running.get(jobId);
        if (session == null) {
            return false;
        }
        session.cancelled = true;
        Process process = session.process;
        if (process != null) {
            ProcessTrees.kill(process.toHandle(), KILL_WAIT);
        }
        return true;
    }

    /** The process that runs {@code jobId}'s session (unshare or setsid, with OpenCode below it), while it runs. */
    public Optional<ProcessHandle> sessionProcess(String jobId) {
        Session session = running.get(jobId);
        Process process = session == null ? null : session.process;
        return process == null ? Optional.empty() : Optional.of(process.toHandle());
    }

    // --------------------------------------------------------------------------------------------- session

    private SessionResult runSession(OpenCodeJob job, String baseUrl, Session session) {
        long start = System.nanoTime();
        Duration deadline = job.deadline().orElse(settings.sessionTimeout());
        Path jobDir = null;
        String stderrTail = "";
        try {
            jobDir = prepare(job);
            ProcessBuilder builder = sandbox.command(jobDir, argv(job));
            builder.environment().clear();
            builder.environment().putAll(environment(sandbox.visibleJobDir(jobDir), baseUrl));
            SessionEvents events = new SessionEvents(settings.transcriptChars());
            StderrTail tail = new StderrTail(settings.stderrTailChars());
            if (session.cancelled) {
                return failed(
                        job,
                        ErrorReason.CANCELLED,
                        "the session was cancelled before it started",
                        null,
                        0,
                        Optional.empty());
            }
            Process process = builder.start();
            session.process = process;
            LOGGER.debug(
                    "OpenCode session started: jobId={} pid={} isolation={}",
                    job.jobId(),
                    process.pid(),
                    sandbox.mode());
            Path eventsFile = jobDir.resolve("events.jsonl");
            Future<?> stdout = io.submit(() -> pumpEvents(process, events, eventsFile));
            Future<?> stderr = io.submit(() -> tail.pump(process.getErrorStream()));
            try (OutputStream in = process.getOutputStream()) {
                in.write(job.message().getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                // The process ended before reading its task; its exit status and stderr say why.
            }
            boolean exited = process.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS);
            List<ProcessHandle> survivors = ProcessTrees.kill(process.toHandle(), KILL_WAIT);
            sandbox.sweep(process.toHandle());
            if (!survivors.isEmpty()) {
                LOGGER.warn(
                        "OpenCode session processes still alive after being killed: jobId={} pids={}",
                        job.jobId(),
                        survivors.stream().map(ProcessHandle::pid).toList());
            }
            awaitQuietly(stdout);
            awaitQuietly(stderr);
            stderrTail = redact(tail.text());
            long wallMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            Optional<JobUsage> usage = gateway.usage(job.jobId());
            OptionalInt exitCode = exited ? OptionalInt.of(process.exitValue()) : OptionalInt.empty();
            ObjectNode output = output(events);
            if (session.cancelled) {
                return result(
                        job,
                        JobStatus.CANCELLED,
                        ErrorReason.CANCELLED,
                        "the session was cancelled",
                        events,
                        output,
                        usage,
                        exitCode,
                        wallMs);
            }
            if (!exited) {
                return result(
                        job,
                        JobStatus.FAILED,
                        ErrorReason.TIMEOUT,
                        "the OpenCode session ran past its deadline of " + deadline.toMillis() + " ms and was stopped"
                                + tailOf(stderrTail),
                        events,
                        output,
                        usage,
                        exitCode,
                        wallMs);
            }
            int code = process.exitValue();
            boolean engineFailed = usage.map(u -> u.failedCalls() > 0).orElse(false);
            if (code != 0) {
                String how = code > 128
                        ? "was killed by signal " + (code - 128) + " (exit code " + code + ")"
                        : "exited with code " + code;
                return result(
                        job,
                        JobStatus.FAILED,
                        engineFailed ? ErrorReason.ENGINE_ERROR : ErrorReason.OTHER,
                        "OpenCode " + how
                                + events.error().map(e -> "; it reported: " + e).orElse("") + tailOf(stderrTail),
                        events,
                        output,
                        usage,
                        exitCode,
                        wallMs);
            }
            if (events.error().isPresent()) {
                return result(
                        job,
                        JobStatus.FAILED,
                        engineFailed ? ErrorReason.ENGINE_ERROR : ErrorReason.OTHER,
                        "OpenCode reported an error: " + events.error().get() + tailOf(stderrTail),
                        events,
                        output,
                        usage,
                        exitCode,
                        wallMs);
            }
            if (events.answer().isEmpty()) {
                return result(
                        job,
                        JobStatus.FAILED,
                        ErrorReason.OTHER,
                        "OpenCode finished without an answer (" + events.steps() + " steps)" + tailOf(stderrTail),
                        events,
                        output,
                        usage,
                        exitCode,
                        wallMs);
            }
            LOGGER.debug(
                    "OpenCode session succeeded: jobId={} steps={} toolCalls={} wallMs={}",
                    job.jobId(),
                    events.steps(),
                    events.toolCalls(),
                    wallMs);
            return result(job, JobStatus.SUCCEEDED, null, null, events, output, usage, exitCode, wallMs);
        } catch (IOException e) {
            return failed(
                    job,
                    ErrorReason.OTHER,
                    "the OpenCode session could not be started: " + redact(e.getMessage()) + tailOf(stderrTail),
                    null,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start),
                    gateway.usage(job.jobId()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            Process process = session.process;
            if (process != null) {
                ProcessTrees.kill(process.toHandle(), KILL_WAIT);
                sandbox.sweep(process.toHandle());
            }
            return failed(
                    job,
                    ErrorReason.CANCELLED,
                    "the OpenCode runtime was shut down while the session ran",
                    null,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start),
                    gateway.usage(job.jobId()));
        } finally {
            if (jobDir != null && !settings.keepWorkspaces()) {
                Workspaces.deleteQuietly(jobDir);
            }
        }
    }

    private Path prepare(OpenCodeJob job) throws IOException {
        Files.createDirectories(settings.workDir());
        String name = job.jobId().replaceAll("[^A-Za-z0-9._-]", "_");
        Path jobDir = settings.workDir()
                .resolve(name + "-"
                        + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        Files.createDirectories(jobDir.resolve("workspace"));
        Files.createDirectories(jobDir.resolve("home"));
        Files.createDirectories(jobDir.resolve("tmp"));
        if (job.sourceDir().isPresent()) {
            Workspaces.copyTree(job.sourceDir().get(), jobDir.resolve("workspace"));
        }
        return jobDir;
    }

    private List<String> argv(OpenCodeJob job) {
        return List.of(
                settings.executable(),
                "run",
                "--format",
                "json",
                "--title",
                job.jobId(),
                "--model",
                PROVIDER + "/" + settings.model());
    }

    /** The session's whole environment; {@code jobDir} as the session sees it. */
    private Map<String, String> environment(Path jobDir, String baseUrl) {
        Path home = jobDir.resolve("home");
        Map<String, String> env = new LinkedHashMap<>();
        String path = System.getenv("PATH");
        env.put("PATH", path == null || path.isBlank() ? "/usr/local/bin:/usr/bin:/bin" : path);
        env.put("HOME", home.toString());
        env.put("XDG_CONFIG_HOME", home.resolve(".config").toString());
        env.put("XDG_DATA_HOME", home.resolve(".local/share").toString());
        env.put("XDG_STATE_HOME", home.resolve(".local/state").toString());
        env.put("XDG_CACHE_HOME", home.resolve(".cache").toString());
        env.put("TMPDIR", jobDir.resolve("tmp").toString());
        env.put("LANG", "C.UTF-8");
        env.put("TERM", "dumb");
        env.put("OPENCODE_DISABLE_AUTOUPDATE", "1");
        env.put("OPENCODE_DISABLE_SHARE", "1");
        env.put("OPENCODE_DISABLE_MODELS_FETCH", "1");
        env.put("OPENCODE_DISABLE_LSP_DOWNLOAD", "1");
        env.put("npm_config_offline", "true");
        env.put(
                "OPENCODE_CONFIG_CONTENT",
                OpenCodeConfig.json(settings, baseUrl, gateway.config().accessToken()));
        return env;
    }

    private static void pumpEvents(Process process, SessionEvents events, Path eventsFile) {
        try (BufferedReader lines =
                        new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
                BufferedWriter copy = Files.newBufferedWriter(eventsFile, StandardCharsets.UTF_8)) {
            String line;
            while ((line = lines.readLine()) != null) {
                events.accept(line);
                copy.write(line);
                copy.newLine();
            }
        } catch (IOException e) {
            // The stream closes when the process is killed; what was read stands.
        }
    }

    private static void awaitQuietly(Future<?> reader) {
        try {
            reader.get(READER_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            reader.cancel(true);
        }
    }

    private static ObjectNode output(SessionEvents events) {
        ObjectNode output = JsonNodeFactory.instance.objectNode();
        Optional<String> answer = events.answer();
        if (answer.isPresent()) {
            output.put("result", answer.get());
        } else {
            output.putNull("result");
        }
        output.put("sessionId", events.sessionId().orElse(null));
        output.put("steps", events.steps());
        output.put("toolCalls", events.toolCalls());
        output.set("openCodeTokens", events.openCodeTokens());
        output.set("transcript", events.transcript());
        return output;
    }

    private SessionResult result(
            OpenCodeJob job,
            JobStatus status,
            ErrorReason reason,
            String message,
            SessionEvents events,
            ObjectNode output,
            Optional<JobUsage> usage,
            OptionalInt exitCode,
            long wallMs) {
        if (status != JobStatus.SUCCEEDED) {
            LOGGER.warn(
                    "OpenCode session did not succeed: jobId={} status={} reason={} exitCode={} wallMs={}",
                    job.jobId(),
                    status,
                    reason,
                    exitCode,
                    wallMs);
        }
        return new SessionResult(
                job.jobId(), job.batchId(), status, reason, message, events.answer(), output, usage, exitCode, wallMs);
    }

    private SessionResult failed(
            OpenCodeJob job,
            ErrorReason reason,
            String message,
            ObjectNode output,
            long wallMs,
            Optional<JobUsage> usage) {
        LOGGER.warn("OpenCode session failed: jobId={} reason={}", job.jobId(), reason);
        return new SessionResult(
                job.jobId(),
                job.batchId(),
                reason == ErrorReason.CANCELLED ? JobStatus.CANCELLED : JobStatus.FAILED,
                reason,
                message,
                Optional.empty(),
                output == null ? JsonNodeFactory.instance.objectNode() : output,
                usage,
                OptionalInt.empty(),
                wallMs);
    }

    private static String tailOf(String stderrTail) {
        return stderrTail.isBlank() ? "; no output on stderr" : "; stderr tail:\n" + stderrTail;
    }

    /** Masks the gateway's access token, should OpenCode print its configuration. */
    private String redact(String text) {
        String token = gateway.config().accessToken();
        return text == null ? "" : token == null ? text : text.replace(token, "****");
    }

    private static ThreadFactory daemonThreads(String name) {
        AtomicInteger counter = new AtomicInteger();
        return runnable -> {
            Thread thread = new Thread(runnable, name + "-" + counter.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }

    /** Kills every running session and waits for their results (at most about a minute). */
    @Override
    public void close() {
        closed = true;
        List<CompletableFuture<SessionResult>> pending = new ArrayList<>();
        for (Map.Entry<String, Session> entry : running.entrySet()) {
            cancel(entry.getKey());
            pending.add(entry.getValue().result);
        }
        try {
            CompletableFuture.allOf(pending.toArray(CompletableFuture[]::new)).get(1, TimeUnit.MINUTES);
        } catch (Exception e) {
            LOGGER.warn("OpenCode sessions still ending at close: {}", running.keySet());
        }
        sessions.shutdownNow();
        io.shutdownNow();
    }
}
