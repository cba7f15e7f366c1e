package io.batchagent.simulator;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The SIMULATED engine's continuous-batching scheduler: one thread that runs steps in the manner
 * of SGLang and vLLM, taking simulated time from an {@link EngineProfile}.
 *
 * <p>Each step:
 * <ol>
 *   <li>admits waiting requests, highest {@code priority} first and first come first served
 *       among equals, while the running batch is below {@code maxRunningRequests} and the KV pool
 *       can hold the request: its longest cached prefix (at most all but the last prompt token,
 *       since the last one must be computed to produce logits) is pinned, and room for its
 *       uncached prompt tokens plus its whole output is reserved, evicting unreferenced cached
 *       prefixes LRU. The head of the queue blocks those behind it (no preemption: the scripted
 *       output length is known up front, so a reservation is never exceeded);</li>
 *   <li>spends up to {@code prefillTokenBudget} tokens on prefill of running requests, in
 *       admission order (chunked prefill);</li>
 *   <li>emits one token for every request whose prefill is complete, including those that
 *       completed it in this step;</li>
 *   <li>takes {@link EngineProfile#stepMillis} divided by the speedup, slept in wall-clock time
 *       before the step's results become visible. The cost grows with each emitting sequence's
 *       context: its prompt plus the tokens it emitted before this step.</li>
 * </ol>
 * The scheduler records what it charged ({@link EngineCounters#steps},
 * {@link EngineCounters#emittedContextTokens}, {@link EngineCounters#simulatedStepMillis}), so the
 * cost model can be checked from its own evidence rather than from wall time.
 * A request's prompt enters the radix cache when its prefill completes; when it finishes, its
 * prompt and output stay cached (unpinned) until evicted. Listeners are called on the scheduler
 * thread, outside the scheduler's lock, in emission order. When idle (or paused) the thread blocks;
 * it never spins.
 *
 * <p>Thread-safety: all public methods are safe from any thread.
 */
final class BatchScheduler implements AutoCloseable {

    private static final Logger LOGGER = LoggerFactory.getLogger(BatchScheduler.class);
    private static final long JOIN_TIMEOUT_MILLIS = 5_000;

    /** Receives one sequence's events, on the scheduler thread. */
    interface Listener {
        /** Output token {@code index} (from 0) was produced. */
        void onToken(Sequence sequence, int index);

        /** The last output token was produced; the sequence's cached-token count is final. */
        void onFinish(Sequence sequence);

        /** The scheduler closed before the sequence finished. */
        void onAbort(Sequence sequence);
    }

    enum State {
        WAITING,
        RUNNING,
        FINISHED,
        CANCELLED
    }

    /** One request in the scheduler. Fields are guarded by the scheduler's lock. */
    static final class Sequence {
        private final long arrival;
        private final int priority;
        private final int[] prompt;
        private final int[] output;
        private final Listener listener;
        private State state = State.WAITING;
        private RadixPrefixCache.Lease lease;
        private int cachedTokens;
        private int toPrefill;
        private int prefilled;
        private int emitted;
        private long reservation;
        private int plannedPrefill;
        private boolean plannedEmit;

        private Sequence(long arrival, int priority, int[] prompt, int[] output, Listener listener) {
            this.arrival = arrival;
            this.priority = priority;
            this.prompt = prompt;
            this.output = output;
            this.listener = listener;
        }

        /** Prompt tokens found cached at admission; final once admitted. */
        int cachedTokens() {
            return cachedTokens;
        }

        int promptTokens() {
            return prompt.length;
        }

        int outputTokens() {
            return output.length;
        }
    }

    private final EngineProfile profile;
    private final double speedup;
    private final EngineCounters counters;
    private final RadixPrefixCache cache;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition workAvailable = lock.newCondition();
    private final PriorityQueue<Sequence> waiting = new PriorityQueue<>(
            Comparator.comparingInt((Sequence s) -> -s.priority).thenComparingLong(s -> s.arrival));
    private final Set<Sequence> running = new LinkedHashSet<>();
    private final Thread thread;
    private long arrivals;
    private boolean paused;
    private volatile boolean closed;

    BatchScheduler(EngineProfile profile, double speedup, EngineCounters counters) {
        this.profile = profile;
        this.speedup = speedup;
        this.counters = counters;
        this.cache = new RadixPrefixCache(profile.kvCapacityTokens());
        this.thread = new Thread(this::runLoop, "engine-simulator-scheduler");
        this.thread.setDaemon(true);
        this.thread.start();
    }

    /**
     * Queues a request.
     *
     * @throws IllegalArgumentException when prompt plus output exceed the KV capacity, so the
     *     request could never be admitted
     * @throws IllegalStateException when the scheduler is closed
     */
    Sequence submit(int[] prompt, int[] output, int priority, Listener listener) {
        if ((long) prompt.length + output.length > profile.kvCapacityTokens()) {
            throw new IllegalArgumentException("prompt (" + prompt.length + " tokens) plus output (" + output.length
                    + " tokens) exceed the KV capacity of " + profile.kvCapacityTokens() + " tokens");
        }
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("scheduler is closed");
            }
            Sequence sequence = new Sequence(arrivals++, priority, prompt, output, listener);
            waiting.add(sequence);
            workAvailable.signalAll();
            return sequence;
        } finally {
            lock.unlock();
        }
    }

    /** Drops a sequence that is waiting or running (its client went away); no-op otherwise. */
    void cancel(Sequence sequence) {
        lock.lock();
        try {
            if (sequence.state == State.WAITING) {
                waiting.remove(sequence);
            } else if (sequence.state == State.RUNNING) {
                releaseRunning(sequence);
            } else {
                return;
            }
            sequence.state = State.CANCELLED;
            workAvailable.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Stops running steps after the current one; requests still queue. */
    void pause() {
        lock.lock();
        try {
            paused = true;
        } finally {
            lock.unlock();
        }
    }

    /** Undoes {@link #pause()}. */
    void resume() {
        lock.lock();
        try {
            paused = false;
            workAvailable.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Evicts every cached token not pinned by a running request; returns tokens evicted. */
    long flushCache() {
        lock.lock();
        try {
            long evicted = cache.flush();
            workAvailable.signalAll();
            return evicted;
        } finally {
            lock.unlock();
        }
    }

    /** A consistent view of queue and cache occupancy. */
    Occupancy occupancy() {
        lock.lock();
        try {
            return new Occupancy(
                    running.size(),
                    waiting.size(),
                    cache.size(),
                    cache.reserved(),
                    cache.lockedTokens(),
                    cache.capacity(),
                    cache.counters().evictedTokens());
        } finally {
            lock.unlock();
        }
    }

    /**
     * Queue and KV pool occupancy.
     *
     * @param running requests in the running batch
     * @param waiting requests queued
     * @param cachedTokens tokens in the radix tree (pinned or not)
     * @param reservedTokens tokens reserved for running requests outside the tree
     * @param pinnedTokens tree tokens pinned by running requests
     * @param capacityTokens KV pool size
     * @param evictedTokens tokens evicted or flushed since start
     */
    record Occupancy(
            int running,
            int waiting,
            long cachedTokens,
            long reservedTokens,
            long pinnedTokens,
            long capacityTokens,
            long evictedTokens) {

        /** Fraction of the KV pool in use: tree plus reservations. */
        double usage() {
            return (double) (cachedTokens + reservedTokens) / capacityTokens;
        }

        /**
         * Fraction of the KV pool held by running requests (pinned tree tokens plus reservations), the
         * evictable cache not counted: what SGLang's {@code token_usage} and vLLM's {@code kv_cache_usage_perc}
         * report, since both count unreferenced cached blocks as free.
         */
        double activeUsage() {
            return (double) (pinnedTokens + reservedTokens) / capacityTokens;
        }
    }

    /** Stops the thread; sequences not finished are aborted. Idempotent. */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            workAvailable.signalAll();
        } finally {
            lock.unlock();
        }
        if (Thread.currentThread() != thread) {
            try {
                thread.join(JOIN_TIMEOUT_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void runLoop() {
        long deadline = System.nanoTime();
        try {
            while (true) {
                Step step;
                lock.lock();
                try {
                    step = nextStep();
                    if (step == null) {
                        break;
                    }
                } finally {
                    lock.unlock();
                }
                if (step.nanos > 0) {
                    // Pacing against a deadline keeps long runs on schedule despite per-step overhead.
                    deadline = Math.max(deadline, System.nanoTime()) + step.nanos;
                    counters.pacedStepNanos.addAndGet(step.nanos);
                    sleepUntil(deadline);
                }
                List<Runnable> events = new ArrayList<>();
                lock.lock();
                try {
                    apply(step, events);
                } finally {
                    lock.unlock();
                }
                deliver(events);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOGGER.error("Engine simulator scheduler failed; aborting its requests", e);
        } finally {
            abortAll();
        }
    }

    /** Waits for work, admits and plans; null once closed. Called with the lock held. */
    private Step nextStep() throws InterruptedException {
        while (true) {
            if (closed) {
                return null;
            }
            if (!paused && !(waiting.isEmpty() && running.isEmpty())) {
                admit();
                Step step = plan();
                if (step != null) {
                    return step;
                }
            }
            workAvailable.await();
        }
    }

    private void admit() {
        while (!waiting.isEmpty() && running.size() < profile.maxRunningRequests()) {
            Sequence head = waiting.peek();
            RadixPrefixCache.Lease lease = head.prompt.length == 0
                    ? cache.lock(head.prompt, 0)
                    : cache.lock(head.prompt, head.prompt.length - 1);
            int toPrefill = head.prompt.length - lease.length();
            long reservation = (long) toPrefill + head.output.length;
            if (!cache.tryReserve(reservation)) {
                cache.unlock(lease);
                return;
            }
            waiting.poll();
            head.state = State.RUNNING;
            head.lease = lease;
            head.cachedTokens = lease.length();
            head.toPrefill = toPrefill;
            head.reservation = reservation;
            running.add(head);
            counters.promptTokens.addAndGet(head.prompt.length);
            counters.cachedTokens.addAndGet(lease.length());
        }
    }

    /** The next step over the running batch, or null when it has nothing to do. */
    private Step plan() {
        int budget = profile.prefillTokenBudget();
        long prefill = 0;
        int emitting = 0;
        long context = 0;
        List<Sequence> batch = new ArrayList<>(running);
        for (Sequence sequence : batch) {
            sequence.plannedPrefill = 0;
            sequence.plannedEmit = false;
            int remaining = sequence.toPrefill - sequence.prefilled;
            if (remaining > 0) {
                int take = Math.min(remaining, budget);
                budget -= take;
                prefill += take;
                sequence.plannedPrefill = take;
                sequence.plannedEmit = take == remaining && sequence.output.length > 0;
            } else {
                sequence.plannedEmit = sequence.emitted < sequence.output.length;
            }
            if (sequence.plannedEmit) {
                emitting++;
                // Attention reads the whole prompt and every token emitted before this one.
                context += sequence.prompt.length + sequence.emitted;
            }
        }
        boolean finishing = batch.stream()
                .anyMatch(s -> s.toPrefill == s.prefilled + s.plannedPrefill
                        && s.emitted + (s.plannedEmit ? 1 : 0) == s.output.length);
        if (prefill == 0 && emitting == 0 && !finishing) {
            return null;
        }
        double millis = profile.stepMillis(prefill, emitting, context);
        long nanos = (long) (millis * 1_000_000 / speedup);
        return new Step(batch, prefill, emitting, context, millis, nanos);
    }

    private void apply(Step step, List<Runnable> events) {
        counters.prefillTokensComputed.addAndGet(step.prefillTokens);
        if (step.millis > 0 || step.prefillTokens > 0 || step.emitting > 0) {
            counters.steps.incrementAndGet();
            counters.emittedContextTokens.addAndGet(step.contextTokens);
            counters.simulatedStepMillis.add(step.millis);
        }
        for (Sequence sequence : step.batch) {
            if (sequence.state != State.RUNNING) {
                continue; // cancelled while the step ran
            }
            if (sequence.plannedPrefill > 0) {
                sequence.prefilled += sequence.plannedPrefill;
                if (sequence.prefilled == sequence.toPrefill) {
                    cachePrompt(sequence);
                }
            }
            if (sequence.plannedEmit) {
                int index = sequence.emitted++;
                counters.completionTokens.incrementAndGet();
                events.add(() -> sequence.listener.onToken(sequence, index));
            }
            if (sequence.prefilled == sequence.toPrefill && sequence.emitted == sequence.output.length) {
                finish(sequence);
                counters.requests.incrementAndGet();
                events.add(() -> sequence.listener.onFinish(sequence));
            }
        }
    }

    /** The prompt's KV now exists: move it from the reservation into the tree, pinned. */
    private void cachePrompt(Sequence sequence) {
        cache.release(sequence.toPrefill);
        sequence.reservation -= sequence.toPrefill;
        RadixPrefixCache.Lease whole = cache.insertAndLock(sequence.prompt);
        cache.unlock(sequence.lease);
        sequence.lease = whole;
    }

    private void finish(Sequence sequence) {
        cache.release(sequence.reservation);
        sequence.reservation = 0;
        int[] all = new int[sequence.prompt.length + sequence.output.length];
        System.arraycopy(sequence.prompt, 0, all, 0, sequence.prompt.length);
        System.arraycopy(sequence.output, 0, all, sequence.prompt.length, sequence.output.length);
        cache.insert(all);
        cache.unlock(sequence.lease);
        sequence.lease = null;
        running.remove(sequence);
        sequence.state = State.FINISHED;
    }

    private void releaseRunning(Sequence sequence) {
        cache.release(sequence.reservation);
        sequence.reservation = 0;
        cache.unlock(sequence.lease);
        sequence.lease = null;
        running.remove(sequence);
    }

    private void deliver(List<Runnable> events) {
        for (Runnable event : events) {
            try {
                event.run();
            } catch (RuntimeException e) {
                LOGGER.warn("Engine simulator listener failed", e);
            }
        }
    }

    private void sleepUntil(long deadline) throws InterruptedException {
        long remaining;
        while (!closed && (remaining = deadline - System.nanoTime()) > 0) {
            LockSupport.parkNanos(this, Math.min(remaining, TimeUnit.MILLISECONDS.toNanos(100)));
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
        }
    }

    private void abortAll() {
        List<Sequence> aborted = new ArrayList<>();
        lock.lock();
        try {
            closed = true;
            aborted.addAll(running);
            aborted.addAll(waiting);
            for (Sequence sequence : running) {
                cache.release(sequence.reservation);
                sequence.reservation = 0;
                cache.unlock(sequence.lease);
                sequence.lease = null;
                sequence.state = State.CANCELLED;
            }
            running.clear();
            waiting.forEach(s -> s.state = State.CANCELLED);
            waiting.clear();
        } finally {
            lock.unlock();
        }
        for (Sequence sequence : aborted) {
            try {
                sequence.listener.onAbort(sequence);
            } catch (RuntimeException e) {
                LOGGER.warn("Engine simulator listener failed on abort", e);
            }
        }
    }

    /**
     * A planned step: what it computes and what it costs.
     *
     * @param emitting sequences that emit a token at its end
     * @param contextTokens their contexts added up (prompt plus earlier output, each)
     * @param millis its simulated cost before the speedup, from {@link EngineProfile#stepMillis}
     * @param nanos the wall-clock time it is paced to: millis divided by the speedup
     */
    private record Step(
            List<Sequence> batch, long prefillTokens, int emitting, long contextTokens, double millis, long nanos) {}
}
