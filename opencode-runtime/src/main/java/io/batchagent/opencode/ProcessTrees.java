package io.batchagent.opencode;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Ends a process and everything it started. */
final class ProcessTrees {

    private static final int ROUNDS = 5;

    private ProcessTrees() {}

    /**
     * Kills {@code root}'s descendants and {@code root} with SIGKILL, looking again for descendants
     * started meanwhile (a few rounds), then waits up to {@code wait} for all of them to be gone.
     *
     * @return the processes still alive after the wait (empty when the whole tree is gone)
     */
    static List<ProcessHandle> kill(ProcessHandle root, Duration wait) {
        Set<ProcessHandle> killed = new LinkedHashSet<>();
        for (int round = 0; round < ROUNDS; round++) {
            List<ProcessHandle> found = new ArrayList<>();
            root.descendants().forEach(found::add);
            // Deepest first, so that a parent cannot start a replacement for a child just killed.
            for (int i = found.size() - 1; i >= 0; i--) {
                found.get(i).destroyForcibly();
            }
            killed.addAll(found);
            root.destroyForcibly();
            killed.add(root);
            if (found.isEmpty()) {
                break;
            }
        }
        return awaitGone(killed, wait);
    }

    /** Waits up to {@code wait} for {@code processes} to exit; returns those still alive. */
    static List<ProcessHandle> awaitGone(Iterable<ProcessHandle> processes, Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        List<ProcessHandle> alive = new ArrayList<>();
        for (ProcessHandle process : processes) {
            long left = deadline - System.nanoTime();
            try {
                process.onExit().get(Math.max(1, left), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                alive.add(process);
            } catch (ExecutionException e) {
                // onExit does not fail; a process we cannot watch is checked below.
                if (process.isAlive()) {
                    alive.add(process);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (process.isAlive()) {
                    alive.add(process);
                }
            }
        }
        return alive;
    }
}
