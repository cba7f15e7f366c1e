package io.batchagent.sdk;

import java.util.List;

/**
 * The outcome of a plan -> map -> reduce workflow.
 *
 * @param plan the plan job's outcome (null for {@code runWithReduce})
 * @param map every map job's outcome, in item order
 * @param reduce the reduce job's outcome: the workflow's final output
 */
public record MapReduceOutcome<P, T, R>(AgentOutcome<P> plan, List<AgentOutcome<T>> map, AgentOutcome<R> reduce) {}
