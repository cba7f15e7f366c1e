package io.batchagent.bench.bound;

import io.batchagent.bench.engine.ModelCall;
import io.batchagent.simulator.EngineProfile;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * A lower bound on the wall clock of any schedule of a {@link WorkloadShape} on an engine whose
 * steps cost what its {@link EngineProfile} says, with zero Kafka (or any other orchestration) cost:
 * the "ideal bound" a run's wall is reported against.
 *
 * <p>No schedule can beat either of two limits, so the bound is the larger of them:
 * <ol>
 *   <li><b>Engine work at the largest batch.</b> The engine runs one step at a time, and by the
 *       profile's linear formula ({@link EngineProfile#workMillis}, the same code the simulator's
 *       scheduler charges with) a run's steps together cost
 *       {@code steps x (overhead + base) + prefill / rate + emitted x perSequence + context x perContextToken}.
 *       Prefill is the least any schedule computes (every prefix cached: the shared prefix once, then
 *       for each call only what its own previous call did not leave in the cache, at least its last
 *       token); emitted and context tokens are fixed by the shape; steps are at least the emitted
 *       tokens over the largest batch the engine could ever run (its {@code maxRunningRequests}, the
 *       workload's in-flight limit, the agents, and the KV pool divided by the least KV a running
 *       request holds), at least the prefill over the per-step prefill budget, and at least the longest
 *       agent's own steps.</li>
 *   <li><b>The longest agent's critical path.</b> An agent's calls run one after another with its tool
 *       waits between them, and each of its steps costs at least that step's formula with the agent
 *       alone in the batch: per call, {@code ceil(prefill / budget)} steps that prefill (the last of
 *       them emits the first token) and one step for each further token. Its first call must see its
 *       whole prompt computed, the shared prefix included.</li>
 * </ol>
 * No schedule is assumed (continuing-first, new-first or any other): both limits hold for all of
 * them, so a real run's {@code wall / bound} is at least 1, and how far above 1 it is measures what
 * the scheduling, the batching left unused and the orchestration cost together. The bound is not
 * always reachable (it ignores that a batch cannot be full while agents wait on tools), so a ratio a
 * little above 1 may already be optimal.
 */
public final class IdealBound {

    private IdealBound() {}

    /**
     * The bound and its parts.
     *
     * @param boundMillis the lower bound: the larger of the two limits
     * @param engineWorkMillis limit 1: engine work at the largest batch
     * @param criticalPathMillis limit 2: the longest agent's calls and tool waits
     * @param steps the fewest steps any schedule runs
     * @param maxBatch the largest batch any schedule can run
     * @param prefillTokens the fewest prompt tokens any schedule computes
     * @param outputTokens tokens generated
     * @param contextTokens for every generated token, its context (prompt plus earlier output), added up
     */
    public record Result(
            double boundMillis,
            double engineWorkMillis,
            double criticalPathMillis,
            long steps,
            int maxBatch,
            long prefillTokens,
            long outputTokens,
            long contextTokens) {

        public double boundSeconds() {
            return boundMillis / 1000;
        }

        /** A run's wall clock over the bound: 1 for an ideal run, more for a real one. */
        public double ratio(double wallSeconds) {
            return wallSeconds * 1000 / boundMillis;
        }

        /** Which limit binds, and its parts, in one sentence. */
        public String explain() {
            return String.format(
                    Locale.ROOT,
                    "ideal bound %.2f s = max(engine work %.2f s: %d steps at batch <= %d, %d prefill, %d output and %d context tokens; "
                            + "longest agent's critical path %.2f s), zero Kafka cost, a lower bound over all schedules",
                    boundMillis / 1000,
                    engineWorkMillis / 1000,
                    steps,
                    maxBatch,
                    prefillTokens,
                    outputTokens,
                    contextTokens,
                    criticalPathMillis / 1000);
        }
    }

    /** The bound of {@code shape} under {@code profile}'s cost model. */
    public static Result of(EngineProfile profile, WorkloadShape shape) {
        long shared = shape.sharedPrefixTokens();
        long prefill = shared;
        long output = 0;
        long context = 0;
        long longestAgentSteps = 0;
        long leastHeld = Long.MAX_VALUE;
        double criticalPath = 0;
        for (WorkloadShape.Agent agent : shape.agents()) {
            double path = 0;
            long agentSteps = 0;
            long cachedBefore = shared; // what the cache can hold of this agent's next prompt
            for (int t = 0; t < agent.turns().size(); t++) {
                WorkloadShape.Turn turn = agent.turns().get(t);
                long prompt = turn.promptTokens();
                long computed = Math.max(1, prompt - Math.min(cachedBefore, prompt));
                // On its own path the first call waits for its whole prompt, shared prefix included.
                long pathPrefill = t == 0 ? prompt : computed;
                long out = turn.outputTokens();
                long turnContext = out * prompt + out * (out - 1) / 2;
                long steps = prefillSteps(profile, pathPrefill) + Math.max(0, out - 1);
                path += profile.workMillis(steps, pathPrefill, out, turnContext) + turn.toolMillisAfter();
                agentSteps += steps;
                prefill += computed;
                output += out;
                context += turnContext;
                leastHeld = Math.min(leastHeld, Math.max(1, prompt - shared + out));
                cachedBefore = prompt + out;
            }
            criticalPath = Math.max(criticalPath, path);
            longestAgentSteps = Math.max(longestAgentSteps, agentSteps);
        }
        long kvBatch =
                Math.max(1, (profile.kvCapacityTokens() - Math.min(shared, profile.kvCapacityTokens())) / leastHeld);
        int maxBatch = (int) Math.min(
                Math.min(profile.maxRunningRequests(), shape.maxInFlight()),
                Math.min(shape.agents().size(), kvBatch));
        long steps = Math.max(
                Math.max(ceilDiv(output, maxBatch), ceilDiv(prefill, profile.prefillTokenBudget())), longestAgentSteps);
        double engineWork = profile.workMillis(steps, prefill, output, context);
        return new Result(
                Math.max(engineWork, criticalPath),
                engineWork,
                criticalPath,
                steps,
                maxBatch,
                prefill,
                output,
                context);
    }

    /**
     * For a driver's report: the bound of a run that happened on a simulated engine, its shape read from
     * the calls the recording proxy saw ({@link WorkloadShape#fromCalls}, the shared prefix from
     * {@link WorkloadShape#sharedPrefixFromCalls}). Empty for a real engine (its costs are unknown) or
     * without calls.
     *
     * @param speedup the simulator's speedup: engine time is divided by it, tool time is not
     * @param toolMillis the tool wait after each call but an agent's last
     * @param maxInFlight the workload's in-flight limit
     */
    public static Optional<Result> ofRun(
            String engineUrl, double speedup, List<ModelCall> calls, double toolMillis, int maxInFlight) {
        Optional<EngineProfile> profile = profileOf(engineUrl);
        if (profile.isEmpty() || calls.stream().noneMatch(call -> !call.warmup() && call.ok())) {
            return Optional.empty();
        }
        WorkloadShape shape =
                WorkloadShape.fromCalls(calls, WorkloadShape.sharedPrefixFromCalls(calls), toolMillis, maxInFlight);
        return Optional.of(of(spedUp(profile.get(), speedup), shape));
    }

    /** The same engine with every step {@code speedup} times shorter, as the simulator paces it. */
    static EngineProfile spedUp(EngineProfile profile, double speedup) {
        if (speedup == 1) {
            return profile;
        }
        return new EngineProfile(
                profile.name() + "/" + speedup,
                profile.prefillTokensPerSecond() * speedup,
                profile.stepOverheadMillis() / speedup,
                profile.decodeStepBaseMillis() / speedup,
                profile.decodeMillisPerSequence() / speedup,
                profile.decodeMillisPerContextToken() / speedup,
                profile.kvCapacityTokens(),
                profile.prefillTokenBudget(),
                profile.maxRunningRequests());
    }

    /**
     * The profile of a {@code sim://<profile>} engine URL (the default profile for {@code sim://}),
     * empty for a real engine, whose costs the bench does not know.
     */
    public static Optional<EngineProfile> profileOf(String engineUrl) {
        if (engineUrl == null || !engineUrl.toLowerCase(Locale.ROOT).startsWith("sim://")) {
            return Optional.empty();
        }
        String name = engineUrl.substring("sim://".length());
        return Optional.of(name.isBlank() ? EngineProfile.H100_QWEN32B : EngineProfile.named(name));
    }

    private static long prefillSteps(EngineProfile profile, long tokens) {
        return Math.max(1, ceilDiv(tokens, profile.prefillTokenBudget()));
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
