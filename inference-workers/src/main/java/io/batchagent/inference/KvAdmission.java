package io.batchagent.inference;

import io.batchagent.events.AgentTurn;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Admission by KV, not by count: a new agent (its first turn) starts only while the engine's KV pool can hold the
 * batch's shared prefix plus the contexts of the agents already running, its own included. An agent between two
 * turns holds no model call, but its context stays in the engine's prefix cache until it is evicted; admitting
 * more agents than the pool holds evicts running agents' contexts (or the shared prefix), and they are prefilled
 * again (W3 at N=100 in {@code bench/run w3}). Continuing agents are never held back.
 *
 * <p>What is counted, all in tokens:
 * <ul>
 *   <li>the pool's size, as the engine reports it ({@link EngineMetrics#kvCapacityTokens()}); of it, {@link #KV_TARGET}
 *       is planned for (see {@link #KV_TARGET} for why not all). Where the engine
 *       reports no size (the hosted APIs) every agent is admitted;
 *   <li>the shared prefix: the most cached prompt tokens of any first turn (a warmed prefix is what a first turn
 *       finds cached);
 *   <li>each running agent's context beyond the prefix: its last call's prompt plus completion tokens, less the
 *       prefix; planned at no less than what agents that finished here ended with (their mean), since a running
 *       agent's context still grows;
 *   <li>a new agent: planned at that same mean. Until an agent has finished here, the mean is not known: the
 *       largest context seen so far times {@link #GROWTH_PRIOR} stands in for it (a first turn's context grows by
 *       tool results and answers before the agent ends). Until any call has been answered, nothing is known at all,
 *       and at most {@code firstCohort} agents start.
 * </ul>
 * An agent counts as running from its first turn's dispatch until this worker publishes its final result; one
 * that is not seen for {@link #FORGET_AFTER_MS} (its later turns went to another worker) is forgotten. While no
 * agent runs, one is always admitted, so that a context larger than the pool still makes progress (and fails on
 * the engine's own limit if it must). Workers sharing an engine each count only their own agents; the engine's
 * queue and KV usage, which every worker reads, then hold back the in-flight calls ({@link AdaptiveConcurrency}).
 *
 * <p>Cost: {@link #admit} runs on the consumer loop's thread before every dispatch of a new agent, so it keeps a
 * running sum of what the running agents are planned at instead of adding them up each time (at 10,000 agents the
 * sum over every running agent took 58% of that thread's samples and 6% of the worker's, {@code docs/latency.md}).
 * The sum is exact for the typical context it was taken with; when the typical context moves by more than
 * {@link #RESUM_TOLERANCE} of it, the sum is taken again, so a new agent is planned within that share of what a full
 * recount gives. Agents not seen for {@link #FORGET_AFTER_MS} are swept at most every {@link #SWEEP_EVERY_MS}.
 *
 * <p>Thread-safe: {@link #admit} is called on the consumer loop's thread, the rest from call completions.
 */
final class KvAdmission {

    private static final Logger LOGGER = LoggerFactory.getLogger(KvAdmission.class);
    /**
     * The share of the KV pool that admitted agents' contexts and the shared prefix may plan to take. The rest holds
     * the contexts of agents that finished lately: engines evict least recently used first, not finished agents
     * first, so an agent waiting on a tool while others finish is evicted unless enough finished contexts are
     * younger than its own. 0.9 left W3 at N=100 with ceiling 100 5.8% over its prefill limit on a loaded machine
     * (long waits between turns); 0.8 leaves twice the room.
     */
    static final double KV_TARGET = 0.8;
    /** Until an agent has finished here: how many times the largest context seen a running agent is planned at. */
    static final long GROWTH_PRIOR = 4;
    /** How long an agent not seen by this worker still counts as running. */
    static final long FORGET_AFTER_MS = 10 * 60 * 1000L;
    /** How often agents not seen for {@link #FORGET_AFTER_MS} are looked for. */
    static final long SWEEP_EVERY_MS = 1_000;
    /** How far the typical context may move from the one the running sum was taken with before it is taken again. */
    static final double RESUM_TOLERANCE = 0.05;

    private final Supplier<EngineMetrics> signals;
    private final LongSupplier clock;
    private final int firstCohort;
    /** Guarded by this. */
    private final Map<String, Agent> running = new HashMap<>();

    private final AtomicLong admitted = new AtomicLong();
    private final AtomicLong heldBack = new AtomicLong();
    private volatile boolean holding;
    /** Guarded by this. */
    private long prefixTokens;
    /** Guarded by this: agents that finished here, and the sum of their contexts beyond the prefix. */
    private long finished;

    private long finishedContextTokens;
    /** Guarded by this: the largest context beyond the prefix any call has shown. */
    private long largestContextTokens;
    /** Guarded by this: the sum over running agents of max(context, {@link #summedAt}). */
    private long runningPlanned;
    /** Guarded by this: the typical context {@link #runningPlanned} was taken with. */
    private long summedAt;
    /** Guarded by this: when agents not seen lately were last looked for. */
    private long sweptAtMs;

    /** One running agent: its context beyond the shared prefix (0 before its first answer), and when it was last seen. */
    private record Agent(long contextTokens, long seenAtMs) {}

    /**
     * @param signals the engine's latest reading ({@link EngineSignals#latest()})
     * @param firstCohort how many agents may start before any has finished here (at least 1)
     */
    KvAdmission(Supplier<EngineMetrics> signals, int firstCohort, LongSupplier clock) {
        this.signals = signals;
        this.firstCohort = Math.max(1, firstCohort);
        this.clock = clock;
    }

    /**
     * Whether {@code turn} may start now; when it may, a new agent counts as running from now. Turns of agents
     * already running (and turns past the first) always may. Called by the consumer loop right before it dispatches
     * the turn, and only then.
     */
    boolean admit(AgentTurn turn) {
        String jobId = turn.getJobId().toString();
        long now = clock.getAsLong();
        OptionalDouble capacity;
        synchronized (this) {
            Agent known = running.get(jobId);
            if (turn.getTurn() > 1 || known != null) {
                put(jobId, new Agent(known == null ? 0 : known.contextTokens(), now));
                return true;
            }
            capacity = signals.get().kvCapacityTokens();
            if (capacity.isEmpty() || running.isEmpty() || fits(capacity.getAsDouble(), now)) {
                put(jobId, new Agent(0, now));
                admitted.incrementAndGet();
                if (holding) {
                    holding = false;
                    LOGGER.debug("new agents admitted again: running={} capacityTokens={}", running.size(), capacity);
                }
                return true;
            }
        }
        heldBack.incrementAndGet();
        if (!holding) {
            holding = true;
            LOGGER.debug(
                    "new agents held back by KV: running={} plannedTokens={} prefixTokens={} capacityTokens={}",
                    running(),
                    plannedTokens(),
                    prefix(),
                    capacity.getAsDouble());
        }
        return false;
    }

    /** Guarded by this. */
    private boolean fits(double capacity, long now) {
        if (now - sweptAtMs >= SWEEP_EVERY_MS) {
            sweptAtMs = now;
            running.entrySet().removeIf(entry -> {
                boolean forgotten = now - entry.getValue().seenAtMs() > FORGET_AFTER_MS;
                if (forgotten) {
                    runningPlanned -= Math.max(entry.getValue().contextTokens(), summedAt);
                }
                return forgotten;
            });
        }
        if (largestContextTokens == 0) {
            return running.size() < firstCohort;
        }
        long typical = typicalContext();
        return prefixTokens + runningPlanned(typical) + typical <= KV_TARGET * capacity;
    }

    /**
     * The running sum, taken again over every running agent when {@code typical} has moved more than
     * {@link #RESUM_TOLERANCE} from the one it was taken with. Guarded by this.
     */
    private long runningPlanned(long typical) {
        if (Math.abs(typical - summedAt) > RESUM_TOLERANCE * summedAt) {
            summedAt = typical;
            long sum = 0;
            for (Agent agent : running.values()) {
                sum += Math.max(agent.contextTokens(), typical);
            }
            runningPlanned = sum;
        }
        return runningPlanned;
    }

    /** Sets {@code jobId}'s entry, keeping the running sum. Guarded by this. */
    private void put(String jobId, Agent agent) {
        Agent previous = running.put(jobId, agent);
        if (previous != null) {
            runningPlanned -= Math.max(previous.contextTokens(), summedAt);
        }
        runningPlanned += Math.max(agent.contextTokens(), summedAt);
    }

    /** What an agent's context is planned at: the mean of those that finished here, or the prior. Guarded by this. */
    private long typicalContext() {
        return finished == 0 ? largestContextTokens * GROWTH_PRIOR : finishedContextTokens / finished;
    }

    /**
     * Records what a model call of {@code request}'s agent says of its context. Calls of agents not running here
     * (the batch's warm-up, an agent forgotten) are not counted.
     */
    synchronized void observe(ChatRequest request, ChatResponse response) {
        Agent agent = response == null || response.isFailure() ? null : running.get(request.jobId());
        if (agent == null) {
            return;
        }
        TokenUsage usage = response.usage();
        if (request.turn() <= 1) {
            prefixTokens = Math.max(prefixTokens, usage.cachedPromptTokens());
        }
        long context = Math.max(0, usage.promptTokens() + usage.completionTokens() - prefixTokens);
        largestContextTokens = Math.max(largestContextTokens, context);
        put(request.jobId(), new Agent(Math.max(agent.contextTokens(), context), clock.getAsLong()));
    }

    /** The agent ended (its final result published here): its context no longer counts, and calibrates new ones. */
    synchronized void finished(String jobId) {
        Agent agent = running.remove(jobId);
        if (agent == null) {
            return;
        }
        runningPlanned -= Math.max(agent.contextTokens(), summedAt);
        if (agent.contextTokens() > 0) {
            finished++;
            finishedContextTokens += agent.contextTokens();
        }
    }

    /** Wraps {@code engine} so that every call's usage is observed. */
    EngineClient observing(EngineClient engine) {
        return new EngineClient() {
            @Override
            public CompletableFuture<ChatResponse> complete(ChatRequest request) {
                return engine.complete(request).whenComplete((response, error) -> observe(request, response));
            }

            @Override
            public CompletableFuture<EngineCapabilities> capabilities(String model) {
                return engine.capabilities(model);
            }
        };
    }

    /** Agents running now (admitted, final result not yet published here). */
    synchronized int running() {
        return running.size();
    }

    /** New agents admitted so far. */
    long admitted() {
        return admitted.get();
    }

    /** Times a new agent was held back because the KV pool could not hold it. */
    long heldBack() {
        return heldBack.get();
    }

    /** The shared prefix's tokens, as far as seen. */
    synchronized long prefix() {
        return prefixTokens;
    }

    /** What {@link #admit} plans the prefix and the running agents at now: the running sum, not a recount. */
    synchronized long plannedTokensForAdmission() {
        return prefixTokens + (largestContextTokens == 0 ? 0 : runningPlanned(typicalContext()));
    }

    /** Tokens the running agents and the prefix are planned to hold, counted afresh (for logs and tests). */
    synchronized long plannedTokens() {
        long typical = largestContextTokens == 0 ? 0 : typicalContext();
        long planned = prefixTokens;
        for (Agent agent : running.values()) {
            planned += Math.max(agent.contextTokens(), typical);
        }
        return planned;
    }
}
