package io.batchagent.gateway;

import java.util.Comparator;
import java.util.PriorityQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * At most {@code slots} model calls in flight; callers beyond that wait in order of priority (higher
 * first), then of arrival. A slot is handed straight to the next waiter when it is released, so a waiter
 * never loses its turn to a later arrival.
 *
 * <p>Guarantees: {@link #inFlight()} never exceeds the bound; a permit released twice frees one slot; a
 * cancelled wait takes no slot (if a slot was handed to it while it was being cancelled, the slot goes to
 * the next waiter).
 *
 * <p>Thread-safe; no thread blocks: {@link #acquire} returns a future.
 */
final class InflightGate {

    /** A held slot; {@link #close()} releases it (idempotent). */
    final class Permit implements AutoCloseable {
        private final AtomicBoolean released = new AtomicBoolean();

        @Override
        public void close() {
            if (released.compareAndSet(false, true)) {
                release();
            }
        }
    }

    private record Waiter(int priority, long sequence, CompletableFuture<Permit> future) {}

    private static final Comparator<Waiter> ORDER =
            Comparator.comparingInt(Waiter::priority).reversed().thenComparingLong(Waiter::sequence);

    private final int slots;
    private final PriorityQueue<Waiter> waiting = new PriorityQueue<>(ORDER);
    private int inFlight;
    private int peakInFlight;
    private int peakWaiting;
    private long sequence;

    InflightGate(int slots) {
        if (slots < 1) {
            throw new IllegalArgumentException("slots must be at least 1, got " + slots);
        }
        this.slots = slots;
    }

    /**
     * A slot, at once if one is free, otherwise when one is handed over. Cancelling the returned future
     * withdraws the wait.
     */
    CompletableFuture<Permit> acquire(int priority) {
        CompletableFuture<Permit> future = new CompletableFuture<>();
        synchronized (this) {
            if (inFlight < slots && waiting.isEmpty()) {
                inFlight++;
                peakInFlight = Math.max(peakInFlight, inFlight);
                future.complete(new Permit());
                return future;
            }
            Waiter waiter = new Waiter(priority, sequence++, future);
            waiting.add(waiter);
            peakWaiting = Math.max(peakWaiting, waiting.size());
            future.whenComplete((permit, error) -> {
                if (error != null) {
                    withdraw(waiter);
                }
            });
        }
        return future;
    }

    private void withdraw(Waiter waiter) {
        synchronized (this) {
            waiting.remove(waiter);
        }
    }

    private void release() {
        while (true) {
            Waiter next;
            synchronized (this) {
                next = waiting.poll();
                if (next == null) {
                    inFlight--;
                    return;
                }
            }
            // The slot passes to the waiter without being freed; completing outside the lock, since the
            // waiter's continuation may run here.
            if (next.future().complete(new Permit())) {
                return;
            }
            // That waiter was cancelled meanwhile: offer the slot to the next one.
        }
    }

    int slots() {
        return slots;
    }

    synchronized int inFlight() {
        return inFlight;
    }

    synchronized int waiting() {
        return waiting.size();
    }

    synchronized int peakInFlight() {
        return peakInFlight;
    }

    synchronized int peakWaiting() {
        return peakWaiting;
    }
}
