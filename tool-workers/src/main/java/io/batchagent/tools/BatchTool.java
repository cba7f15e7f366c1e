package io.batchagent.tools;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Objects;

/**
 * A tool that can answer several distinct calls in one execution: one SQL query with
 * {@code WHERE id IN (...)}, one search API request with several queries.
 *
 * <p>The batch declares the tool {@code batchable} (with a window, tens of milliseconds by default);
 * the coalescer then groups the distinct calls to it that arrive within the window into one
 * {@code ToolCall}, and the worker runs {@link #executeBatch} once for all of them, under one rate
 * limit token and one concurrency slot, within the tool's timeout. Identical calls were already
 * merged: every argument set in a batch is distinct. A tool that is declared batchable but does not
 * implement this interface has its calls run one by one.
 *
 * <p>The contract of {@link Tool} applies (thread-safety, interruption, exceptions): an exception or
 * a timeout of the batch becomes the result of every call in it.
 */
public interface BatchTool extends Tool {

    /**
     * Runs several calls as one execution.
     *
     * @param arguments the calls' arguments, each validated against the tool's parameter schema
     * @param context the batched execution's identity (its call hash is the group's) and deadline
     * @return one outcome per argument set, in the same order
     * @throws Exception any failure of the whole batch; reported to every caller as an {@code ERROR}
     */
    List<Outcome> executeBatch(List<JsonNode> arguments, ToolContext context) throws Exception;

    /** A single call is a batch of one. */
    @Override
    default String execute(JsonNode arguments, ToolContext context) throws Exception {
        List<Outcome> outcomes = executeBatch(List.of(arguments), context);
        if (outcomes.size() != 1) {
            throw new IllegalStateException(
                    "batch handler of '" + name() + "' returned " + outcomes.size() + " outcomes for 1 call");
        }
        Outcome outcome = outcomes.get(0);
        if (outcome.error() != null) {
            throw new IllegalArgumentException(outcome.error());
        }
        return outcome.output();
    }

    /**
     * The answer to one call of a batch: an output, or an error the model sees as an {@code ERROR}
     * result for that call only.
     */
    record Outcome(String output, String error) {

        public Outcome {
            if ((output == null) == (error == null)) {
                throw new IllegalArgumentException("an outcome has either an output or an error");
            }
        }

        public static Outcome ok(String output) {
            return new Outcome(Objects.requireNonNullElse(output, ""), null);
        }

        public static Outcome error(String error) {
            return new Outcome(null, Objects.requireNonNull(error, "error"));
        }
    }
}
