package io.batchagent.tools.limits;

import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The threads a worker's tools run on: at most {@code maxThreads} in all, of which one tool (by
 * name) holds at most {@code perTool}.
 *
 * <p>A run holds its slot until its body really returns, not until its call times out. A tool that
 * ignores interruption keeps its thread past its timeout (the run <em>lingers</em>), and that thread
 * still counts. So a hung tool holds at most {@code perTool} threads: further calls to it wait for a
 * slot, holding no thread, and fail with {@link LimitTimeoutException} when their deadline passes
 * first. The worker stops starting that tool instead of adding threads, and other tools keep the
 * rest. The pool never has more than {@code maxThreads} threads; idle ones end after a minute.
 *
 * <p>Waiting calls are started in arrival order, skipping those whose tool has no free slot.
 * Thread-safe.
 */
public final class ToolThreads implements AutoCloseable {

    private final ThreadPoolExecutor pool;
    private final ScheduledExecutorService timer;
    private final int maxThreads;
    private final int perTool;
    private final Object lock = new Object();
    private final Map<String, Integer> busyByTool = new HashMap<>(); // guarded by lock
    private final Map<String, Integer> lingeringByTool = new HashMap<>(); // guarded by lock
    private final ArrayDeque<Pending> pending = new ArrayDeque<>(); // guarded by lock
    private int busy; // guarded by lock
    private boolean closed; // guarded by lock

    /**
     * @param timer where waiting calls' deadlines fire
     * @throws IllegalArgumentException unless {@code 1 <= perTool <= maxThreads}
     */
    public ToolThreads(int maxThreads, int perTool, ThreadFactory threads, ScheduledExecutorService timer) {
        if (perTool < 1 || perTool > maxThreads) {
            throw new IllegalArgumentException(
                    "need 1 <= perTool <= maxThreads, got perTool " + perTool + " and maxThreads " + maxThreads);
        }
        this.maxThreads = maxThreads;
        this.perTool = perTool;
        this.timer = timer;
        // Never more threads than slots: a slot is taken before a task is submitted, so a free thread
        // or room for a new one always exists and the queue never holds a task for long.
        this.pool = new ThreadPoolExecutor(
                maxThreads, maxThreads, 60, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), threads);
        this.pool.allowCoreThreadTimeOut(true);
    }

    /** One run of a body on a tool thread. */
    public final class Run {
        private final String tool;
        private final Runnable body;
        private final CompletableFuture<Void> ended = new CompletableFuture<>();
        private Thread thread; // guarded by this
        private boolean interrupted; // guarded by this
        private boolean lingering; // guarded by this

        private Run(String tool, Runnable body) {
            this.tool = tool;
            this.body = body;
        }

        /** Completes when the body has returned, or when it will never run (interrupted before it started). */
        public CompletionStage<Void> ended() {
            return ended;
        }

        /**
         * Interrupts the body's thread if it runs (it then lingers until the body returns), or keeps
         * the body from starting. Idempotent.
         */
        public synchronized void interrupt() {
            if (interrupted) {
                return;
            }
            interrupted = true;
            if (thread == null) {
                return; // not started: execute() sees the flag and gives the slot back
            }
            thread.interrupt();
            lingering = true;
            synchronized (lock) { // always taken after a Run's monitor, never before
                lingeringByTool.merge(tool, 1, Integer::sum);
            }
        }

        private void execute() {
            synchronized (this) {
                if (interrupted) {
                    finish(false);
                    return;
                }
                thread = Thread.currentThread();
            }
            boolean lingered;
            try {
                body.run();
            } finally {
                synchronized (this) {
                    thread = null;
                    lingered = lingering;
                }
                Thread.interrupted(); // a late interrupt must not hit the pool's next task
                finish(lingered);
            }
        }

        private void finish(boolean lingered) {
            release(tool, lingered);
            ended.complete(null);
        }
    }

    /**
     * Starts {@code body} on a tool thread once {@code tool} may take one. The stage completes with
     * the started {@link Run}; it fails with {@link LimitTimeoutException} if {@code deadline} passes
     * first, and with {@link RejectedExecutionException} once this pool is closed.
     */
    public CompletionStage<Run> start(String tool, Instant deadline, Runnable body) {
        Pending call = new Pending(new Run(tool, body));
        boolean now;
        synchronized (lock) {
            if (closed) {
                return CompletableFuture.failedFuture(new RejectedExecutionException("the tool threads are closed"));
            }
            now = free(tool);
            if (now) {
                take(tool);
            } else {
                pending.add(call);
            }
        }
        if (now) {
            submit(call);
        } else {
            long delayMs = Math.max(0, deadline.toEpochMilli() - System.currentTimeMillis());
            try {
                timer.schedule(() -> expire(call), delayMs, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException e) {
                synchronized (lock) {
                    pending.remove(call);
                }
                call.started().completeExceptionally(e);
            }
        }
        return call.started();
    }

    /** Threads that exist now, busy or idle. */
    public int threads() {
        return pool.getPoolSize();
    }

    /** The most threads that ever existed at once. */
    public int peakThreads() {
        return pool.getLargestPoolSize();
    }

    /** Runs still going after they were interrupted at their timeout. */
    public int lingering() {
        synchronized (lock) {
            return lingeringByTool.values().stream().mapToInt(Integer::intValue).sum();
        }
    }

    /** Interrupts running bodies and fails waiting calls with {@link RejectedExecutionException}. */
    @Override
    public void close() {
        List<Pending> dropped;
        synchronized (lock) {
            closed = true;
            dropped = List.copyOf(pending);
            pending.clear();
        }
        pool.shutdownNow();
        dropped.forEach(call ->
                call.started().completeExceptionally(new RejectedExecutionException("the tool threads are closed")));
    }

    private record Pending(Run run, CompletableFuture<Run> started) {
        Pending(Run run) {
            this(run, new CompletableFuture<>());
        }
    }

    private boolean free(String tool) {
        return busy < maxThreads && busyByTool.getOrDefault(tool, 0) < perTool;
    }

    private void take(String tool) {
        busy++;
        busyByTool.merge(tool, 1, Integer::sum);
    }

    private void submit(Pending call) {
        try {
            pool.execute(call.run()::execute);
        } catch (RejectedExecutionException e) {
            release(call.run().tool, false);
            call.started().completeExceptionally(e);
            return;
        }
        call.started().complete(call.run());
    }

    private void release(String tool, boolean lingered) {
        List<Pending> admitted = new ArrayList<>();
        synchronized (lock) {
            busy--;
            busyByTool.merge(tool, -1, (held, one) -> held + one == 0 ? null : held + one);
            if (lingered) {
                lingeringByTool.merge(tool, -1, (held, one) -> held + one == 0 ? null : held + one);
            }
            for (Iterator<Pending> it = pending.iterator(); it.hasNext() && busy < maxThreads; ) {
                Pending next = it.next();
                if (free(next.run().tool)) {
                    it.remove();
                    take(next.run().tool);
                    admitted.add(next);
                }
            }
        }
        admitted.forEach(this::submit);
    }

    private void expire(Pending call) {
        String message;
        synchronized (lock) {
            if (!pending.remove(call)) {
                return; // started meanwhile
            }
            String tool = call.run().tool;
            message =
                    "tool '" + tool + "' could not start before its deadline: no tool thread was free on this worker ("
                            + busyByTool.getOrDefault(tool, 0) + " of the " + perTool + " it may hold are busy, "
                            + lingeringByTool.getOrDefault(tool, 0) + " of them still running past their timeout; "
                            + busy + " of " + maxThreads + " busy in all)";
        }
        call.started().completeExceptionally(new LimitTimeoutException(message));
    }
}
