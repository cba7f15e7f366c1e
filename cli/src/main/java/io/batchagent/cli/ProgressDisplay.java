package io.batchagent.cli;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Shows a run's {@link BatchProgress} on stderr and watches it for a stall.
 *
 * <ul>
 *   <li>{@link Mode#BAR}: a live bar (me.tongfei:progressbar) with done/failed, turns per second,
 *       cached-token share, tool executions versus requests and the ETA; for a terminal.
 *   <li>{@link Mode#PLAIN}: the same figures as a line every {@link #PLAIN_INTERVAL}; for logs.
 *   <li>{@link Mode#NONE}: nothing.
 * </ul>
 *
 * {@link Mode#AUTO} is BAR when stderr is a terminal (the launcher says so with
 * {@code -Dbatchagent.stderr.tty=true}), else PLAIN. In every mode, once no job has progressed for
 * the stall timeout, {@code onStall} runs, once. Thread-safe.
 */
final class ProgressDisplay implements AutoCloseable {

    /** How progress is shown. */
    enum Mode {
        AUTO,
        BAR,
        PLAIN,
        NONE
    }

    static final Duration PLAIN_INTERVAL = Duration.ofSeconds(5);
    private static final Duration TICK = Duration.ofSeconds(1);
    /** Carriage return and erase-line: clears the bar before a result line is printed under it. */
    private static final String CLEAR_LINE = "\r\033[2K";

    private final BatchProgress progress;
    private final Mode mode;
    private final PrintWriter err;
    private final Duration stallTimeout;
    private final Runnable onStall;
    private final ScheduledExecutorService ticker;
    private final AtomicBoolean stalled = new AtomicBoolean();
    private final boolean stdoutSharesTerminal;
    private ProgressBar bar;
    private long lastPlainNanos = System.nanoTime();
    private boolean finalLinePrinted;

    private ProgressDisplay(
            BatchProgress progress, Mode mode, PrintWriter err, Duration stallTimeout, Runnable onStall) {
        this.progress = progress;
        this.mode = mode;
        this.err = err;
        this.stallTimeout = stallTimeout;
        this.onStall = onStall;
        this.stdoutSharesTerminal = mode == Mode.BAR && Boolean.getBoolean("batchagent.stdout.tty");
        this.ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "progress");
            t.setDaemon(true);
            return t;
        });
    }

    /** The mode AUTO stands for here. */
    static Mode resolve(Mode mode) {
        if (mode != Mode.AUTO) {
            return mode;
        }
        return Boolean.getBoolean("batchagent.stderr.tty") ? Mode.BAR : Mode.PLAIN;
    }

    /**
     * Starts showing {@code progress} (once it has a batch) and watching it.
     *
     * @param stallTimeout how long without progress is a stall; zero never stalls
     * @param onStall run once, on the display's thread, at the first stall
     */
    static ProgressDisplay start(
            BatchProgress progress, Mode mode, PrintWriter err, Duration stallTimeout, Runnable onStall) {
        ProgressDisplay display = new ProgressDisplay(progress, resolve(mode), err, stallTimeout, onStall);
        display.ticker.scheduleWithFixedDelay(display::tick, TICK.toMillis(), TICK.toMillis(), TimeUnit.MILLISECONDS);
        return display;
    }

    private synchronized void tick() {
        try {
            if (!stallTimeout.isZero() && progress.stalledFor(stallTimeout) && stalled.compareAndSet(false, true)) {
                onStall.run();
                return;
            }
            BatchProgress.Snapshot snapshot = progress.snapshot();
            if (snapshot.total() == 0) {
                return; // not submitted yet
            }
            if (mode == Mode.BAR) {
                if (bar == null) {
                    bar = new ProgressBarBuilder()
                            .setTaskName("jobs")
                            .setInitialMax(snapshot.total())
                            .setStyle(ProgressBarStyle.COLORFUL_UNICODE_BLOCK)
                            .setUpdateIntervalMillis((int) TICK.toMillis())
                            // A bar is only drawn on a terminal, which is the process's own stderr.
                            .setConsumer(new ConsoleProgressBarConsumer(System.err))
                            .setEtaFunction(state -> progress.snapshot().eta())
                            .build();
                }
                bar.stepTo(snapshot.done());
                bar.setExtraMessage(barMessage(snapshot));
            } else if (mode == Mode.PLAIN
                    && !finalLinePrinted
                    && (snapshot.done() == snapshot.total()
                            || System.nanoTime() - lastPlainNanos >= PLAIN_INTERVAL.toNanos())) {
                lastPlainNanos = System.nanoTime();
                // Once every job is done, one last line: the run still closes its stages for a while.
                finalLinePrinted = snapshot.done() == snapshot.total();
                err.println("progress: " + snapshot.describe());
                err.flush();
            }
        } catch (RuntimeException e) {
            // A display fault must not end the ticker: the stall watch runs on it.
            err.println("batchagent: progress display failed: " + e);
            err.flush();
        }
    }

    private static String barMessage(BatchProgress.Snapshot s) {
        return String.format(
                "%,d failed | %.1f turns/s | cached %.0f%% | tools %,d/%,d exec/req",
                s.failed(), s.turnsPerSecond(), 100 * s.cachedShare(), s.toolExecutions(), s.toolRequests());
    }

    /** Prints a line on {@code out}; with a live bar on the same terminal, the bar line is cleared first. */
    synchronized void println(PrintWriter out, String line) {
        if (bar != null && stdoutSharesTerminal) {
            System.err.print(CLEAR_LINE);
            System.err.flush();
        }
        out.println(line);
        out.flush();
    }

    /** Stops the display; a bar is drawn a last time and ends its line. */
    @Override
    public void close() {
        ticker.shutdownNow();
        synchronized (this) {
            if (bar != null) {
                bar.stepTo(progress.snapshot().done());
                bar.close();
                bar = null;
            }
        }
    }
}
