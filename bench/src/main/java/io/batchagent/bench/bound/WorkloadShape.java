package io.batchagent.bench.bound;

import io.batchagent.bench.engine.ModelCall;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * What a batch of agents asks of the engine, in tokens and tool time, for {@link IdealBound}: the
 * agents' turns (each turn's whole prompt, its output, and the tool wait after it), the prefix every
 * agent's first prompt shares, and the most model calls the workload lets run at once.
 *
 * @param agents every agent's turns, in order
 * @param sharedPrefixTokens tokens at the start of every agent's first prompt that are the same for all
 *     (system prompt, tools, schema): computed once in the ideal schedule
 * @param maxInFlight the most model calls the workload runs at once (its max_inflight or semaphore);
 *     the engine's own {@code maxRunningRequests} and KV pool bound it further
 */
public record WorkloadShape(List<Agent> agents, long sharedPrefixTokens, int maxInFlight) {

    /**
     * One model call of an agent and the tool wait after it.
     *
     * @param promptTokens the call's whole prompt (its context when its first token is produced)
     * @param outputTokens tokens it generates
     * @param toolMillisAfter the least time the agent waits for tools before its next call (0 after its last)
     */
    public record Turn(long promptTokens, long outputTokens, double toolMillisAfter) {
        public Turn {
            if (promptTokens < 1 || outputTokens < 0 || !(toolMillisAfter >= 0)) {
                throw new IllegalArgumentException("bad turn: prompt " + promptTokens + ", output " + outputTokens
                        + ", tool " + toolMillisAfter + " ms");
            }
        }
    }

    /** One agent: its model calls in order. */
    public record Agent(List<Turn> turns) {
        public Agent {
            turns = List.copyOf(turns);
            if (turns.isEmpty()) {
                throw new IllegalArgumentException("an agent makes at least one model call");
            }
        }
    }

    public WorkloadShape {
        agents = List.copyOf(agents);
        if (agents.isEmpty()) {
            throw new IllegalArgumentException("no agents");
        }
        if (sharedPrefixTokens < 0 || maxInFlight < 1) {
            throw new IllegalArgumentException("sharedPrefixTokens must be >= 0 and maxInFlight >= 1, were "
                    + sharedPrefixTokens + ", " + maxInFlight);
        }
        for (Agent agent : agents) {
            if (agent.turns().get(0).promptTokens() < sharedPrefixTokens) {
                throw new IllegalArgumentException("a first prompt is shorter than the shared prefix");
            }
        }
    }

    /**
     * Identical agents: {@code turns} calls each; the first prompt is the shared prefix plus
     * {@code uniqueFirstPromptTokens}; each later prompt is the previous prompt, its output and
     * {@code toolResultTokens} (the tool result as the next turn sees it); {@code toolMillis} between
     * calls.
     */
    public static WorkloadShape uniform(
            int agents,
            int turns,
            long sharedPrefixTokens,
            long uniqueFirstPromptTokens,
            long outputTokensPerTurn,
            long toolResultTokens,
            double toolMillis,
            int maxInFlight) {
        List<Turn> shape = new ArrayList<>();
        long prompt = sharedPrefixTokens + uniqueFirstPromptTokens;
        for (int t = 0; t < turns; t++) {
            shape.add(new Turn(prompt, outputTokensPerTurn, t == turns - 1 ? 0 : toolMillis));
            prompt += outputTokensPerTurn + toolResultTokens;
        }
        List<Agent> all = new ArrayList<>();
        for (int a = 0; a < agents; a++) {
            all.add(new Agent(shape));
        }
        return new WorkloadShape(all, sharedPrefixTokens, maxInFlight);
    }

    /**
     * The shape of a run that happened, from the calls a recording proxy saw (warm-ups left out): each
     * agent's calls by turn, with the prompt and completion tokens the engine reported.
     *
     * @param toolMillis the tool wait after every call but an agent's last (the workload's tool latency)
     * @param sharedPrefixTokens the shared prefix: e.g. the most tokens any agent's first call found cached
     */
    public static WorkloadShape fromCalls(
            List<ModelCall> calls, long sharedPrefixTokens, double toolMillis, int maxInFlight) {
        Map<String, List<ModelCall>> byKey = calls.stream()
                .filter(call -> !call.warmup() && call.ok() && call.promptTokens() > 0)
                .collect(Collectors.groupingBy(ModelCall::agentKey, LinkedHashMap::new, Collectors.toList()));
        // Agents with the same first user message (W2's agents share their task text) have the same key: the
        // k-th call of a turn, in arrival order, is taken to be the k-th such agent's.
        List<List<ModelCall>> byAgent = new ArrayList<>();
        for (List<ModelCall> sameKey : byKey.values()) {
            Map<Integer, List<ModelCall>> byTurn = sameKey.stream()
                    .sorted(Comparator.comparingLong(ModelCall::arrivedNanos))
                    .collect(Collectors.groupingBy(ModelCall::turn, LinkedHashMap::new, Collectors.toList()));
            int lanes = byTurn.values().stream().mapToInt(List::size).max().orElse(0);
            for (int lane = 0; lane < lanes; lane++) {
                List<ModelCall> agentCalls = new ArrayList<>();
                for (List<ModelCall> ofTurn : byTurn.values()) {
                    if (lane < ofTurn.size()) {
                        agentCalls.add(ofTurn.get(lane));
                    }
                }
                byAgent.add(agentCalls);
            }
        }
        List<Agent> agents = new ArrayList<>();
        for (List<ModelCall> agentCalls : byAgent) {
            List<ModelCall> ordered = agentCalls.stream()
                    .sorted(Comparator.comparingInt(ModelCall::turn))
                    .toList();
            List<Turn> turns = new ArrayList<>();
            for (int i = 0; i < ordered.size(); i++) {
                ModelCall call = ordered.get(i);
                turns.add(new Turn(
                        call.promptTokens(),
                        Math.max(0, call.completionTokens()),
                        i == ordered.size() - 1 ? 0 : toolMillis));
            }
            agents.add(new Agent(turns));
        }
        long minFirstPrompt = agents.stream()
                .mapToLong(a -> a.turns().get(0).promptTokens())
                .min()
                .orElse(0);
        return new WorkloadShape(agents, Math.min(sharedPrefixTokens, minFirstPrompt), maxInFlight);
    }

    /** The most tokens any agent's first call found cached: a shared prefix no larger than the real one's reach. */
    public static long sharedPrefixFromCalls(List<ModelCall> calls) {
        return calls.stream()
                .filter(call -> !call.warmup() && call.ok() && call.turn() == 1)
                .mapToLong(call -> Math.max(0, call.cachedTokens()))
                .max()
                .orElse(0);
    }
}
