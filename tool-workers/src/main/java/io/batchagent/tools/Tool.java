package io.batchagent.tools;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;

/**
 * A tool that agents can call. Implementations are found by {@link java.util.ServiceLoader} (list
 * the class in {@code META-INF/services/io.batchagent.tools.Tool}; it then needs a public
 * no-argument constructor) or added to a {@link ToolRegistry} programmatically.
 *
 * <p>Contract:
 * <ul>
 *   <li>{@link #execute} may block: the worker runs it on its own executor, never on the consumer's
 *       poll thread, and calls it concurrently from many threads, so implementations must be
 *       thread-safe.
 *   <li>When the call's deadline passes, the worker reports a timeout and interrupts the thread;
 *       a tool should let {@link InterruptedException} (or an interrupted I/O call) end it promptly.
 *       A tool that ignores interruption keeps its thread busy, but no longer holds a slot.
 *   <li>A thrown exception becomes an {@code ERROR} result carrying its class and message; it never
 *       stops the worker. Throw {@link IllegalArgumentException} for arguments the tool refuses.
 *   <li>The returned text may be of any length: the worker caps it at the batch's
 *       {@code ToolSpec.maxOutputChars}.
 * </ul>
 */
public interface Tool {

    /** The name agents call the tool by: 1 to 64 characters from {@code [A-Za-z0-9_-]}, unique per registry. */
    String name();

    /** A description for the model; empty unless the tool says more. */
    default String description() {
        return "";
    }

    /** JSON Schema of the arguments, as a JSON text. */
    default String parametersJson() {
        return "{\"type\":\"object\"}";
    }

    /**
     * Applies deployment options, once, before the first {@link #execute}. The keys are the worker's
     * tool options that start with {@code name() + "."}, with that prefix removed; the map may be
     * empty. The default ignores them.
     *
     * @throws IllegalArgumentException for an option the tool cannot use; the worker fails at startup
     */
    default void configure(Map<String, String> options) {}

    /**
     * Runs one call.
     *
     * @param arguments the call's arguments as parsed JSON (normally an object)
     * @param context the call's identity and deadline
     * @return the output text for the model; {@code null} is read as empty
     * @throws Exception any failure; reported to the agent as an {@code ERROR} result
     */
    String execute(JsonNode arguments, ToolContext context) throws Exception;
}
