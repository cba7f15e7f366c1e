package io.batchagent.inference;

import io.batchagent.events.AgentTurn;
import io.batchagent.schemas.Topics;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Which buffered turn an inference worker starts next when a slot frees, and which turns it asks the engine to run
 * first ({@link SchedulingHints#priority()}). A worker setting ({@link FlowControl#scheduling()}; the CLI's
 * {@code --scheduling}). Whatever the policy, undecodable records go first (cheap, they hold no engine slot for long)
 * and ties go to the earliest emitted turn.
 *
 * <ul>
 *   <li>{@link #CONTINUING_FIRST}: agents past their first turn before new ones, across the whole backlog (the
 *       agent-turns partitions pause while continuations wait on the broker). Lowest per-agent latency and KV
 *       residency: an agent's prefix is still cached when its next turn runs.
 *   <li>{@link #NEW_FIRST}: new agents before continuing ones, across the backlog (agent-continuations pause while
 *       new turns wait). Every agent starts as early as possible, so their tool waits overlap the engine's work
 *       and the tail is short; each agent lives longer, and its prefix may be evicted between turns. Admission by
 *       KV does not apply ({@link #holdsNewAgentsByKv()}).
 *   <li>{@link #LEAST_REMAINING_WORK}, makespan-aware: both topics in one rank, so new turns are always buffered
 *       to fill a free slot (no partition pauses on the other topic's account), and among buffered turns the
 *       agent with the least estimated remaining work goes first: (max turns - turn + 1) x the output length
 *       expected per turn ({@link RemainingWork}). Within one batch this orders by turn, latest first.
 * </ul>
 */
public enum SchedulingPolicy {
    CONTINUING_FIRST("continuing-first"),
    NEW_FIRST("new-first"),
    LEAST_REMAINING_WORK("least-remaining-work");

    /** The default, chosen from bench/run sched (README, Flow control): the only policy that keeps admission by KV. */
    public static final SchedulingPolicy DEFAULT = CONTINUING_FIRST;

    private final String settingName;

    SchedulingPolicy(String settingName) {
        this.settingName = settingName;
    }

    /** The name used on command lines and in reports: {@code continuing-first}, {@code new-first}... */
    public String settingName() {
        return settingName;
    }

    @Override
    public String toString() {
        return settingName;
    }

    /** The policy named {@code name} (its setting name, or the constant's name), case-insensitive. */
    public static SchedulingPolicy parse(String name) {
        String wanted = name == null ? "" : name.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        for (SchedulingPolicy policy : values()) {
            if (policy.settingName.equals(wanted)) {
                return policy;
            }
        }
        throw new IllegalArgumentException("unknown scheduling policy '" + name + "'; one of " + names());
    }

    /** Every setting name, comma-separated. */
    public static String names() {
        return Arrays.stream(values()).map(SchedulingPolicy::settingName).collect(Collectors.joining(", "));
    }

    /**
     * The engine priority of an agent's {@code turn} under this policy, in {@link SchedulingHints}' semantics
     * (higher runs sooner): the turn the worker would dispatch first gets {@link SchedulingHints#CONTINUING_AGENT}.
     */
    public int enginePriority(int turn) {
        boolean continuing = turn >= 2;
        return switch (this) {
            case CONTINUING_FIRST, LEAST_REMAINING_WORK ->
                continuing ? SchedulingHints.CONTINUING_AGENT : SchedulingHints.NEW_AGENT;
            case NEW_FIRST -> continuing ? SchedulingHints.NEW_AGENT : SchedulingHints.CONTINUING_AGENT;
        };
    }

    /**
     * Whether admission by KV ({@link KvAdmission}) may hold back a new agent under this policy: only under
     * {@link #CONTINUING_FIRST}, whose continuations have their own rank and buffer. Under {@link #NEW_FIRST} the
     * queue puts new agents ahead of continuing ones (and pauses agent-continuations while new turns wait); under
     * {@link #LEAST_REMAINING_WORK} both topics share one buffer, which held-back new turns fill until fetching
     * pauses. Either way a held-back new agent would stall the running agents whose end would make room for it
     * (bench/run sched hung on W3 so), so these policies admit by the in-flight limit alone, and running agents'
     * contexts may be evicted.
     */
    public boolean holdsNewAgentsByKv() {
        return this == CONTINUING_FIRST;
    }

    /** Topics in dispatch rank order, first drained first; empty for one rank (the comparator alone decides). */
    List<String> topicOrder(Topics topics) {
        return switch (this) {
            case CONTINUING_FIRST ->
                List.of(topics.agentContinuations().name(), topics.agentTurns().name());
            case NEW_FIRST ->
                List.of(topics.agentTurns().name(), topics.agentContinuations().name());
            case LEAST_REMAINING_WORK -> List.of();
        };
    }

    /**
     * Dispatch order among buffered turns. {@code remaining} must answer the same for a turn every time it is asked
     * (a priority queue holds the turns).
     */
    Comparator<ConsumerRecord<String, Decoded<AgentTurn>>> order(RemainingWork remaining) {
        Comparator<ConsumerRecord<String, Decoded<AgentTurn>>> undecodableFirst =
                Comparator.comparingInt(record -> decoded(record) == null ? 0 : 1);
        Comparator<ConsumerRecord<String, Decoded<AgentTurn>>> byPolicy = switch (this) {
            case CONTINUING_FIRST -> Comparator.comparingInt(record -> continuing(record) ? 0 : 1);
            case NEW_FIRST -> Comparator.comparingInt(record -> continuing(record) ? 1 : 0);
            case LEAST_REMAINING_WORK ->
                Comparator.comparingLong(record -> decoded(record) == null ? 0 : remaining.estimate(decoded(record)));
        };
        return undecodableFirst.thenComparing(byPolicy).thenComparingLong(SchedulingPolicy::emittedAt);
    }

    /** Estimated work left to an agent, in output tokens, counting the turn it is about to take. */
    @FunctionalInterface
    public interface RemainingWork {
        long estimate(AgentTurn turn);

        /** (maxTurns - turn + 1) x tokensPerTurn, at least one turn's worth. */
        static long of(int turn, int maxTurns, long tokensPerTurn) {
            return (long) Math.max(1, maxTurns - turn + 1) * Math.max(1, tokensPerTurn);
        }
    }

    private static AgentTurn decoded(ConsumerRecord<String, Decoded<AgentTurn>> record) {
        Decoded<AgentTurn> value = record.value();
        return value == null || !value.ok() ? null : value.value();
    }

    private static boolean continuing(ConsumerRecord<String, Decoded<AgentTurn>> record) {
        AgentTurn turn = decoded(record);
        return turn != null && turn.getTurn() >= 2;
    }

    private static long emittedAt(ConsumerRecord<String, Decoded<AgentTurn>> record) {
        AgentTurn turn = decoded(record);
        return turn == null ? record.timestamp() : turn.getEmittedAtMs();
    }
}
