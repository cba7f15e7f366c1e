package io.batchagent.simulator;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Optional;

/**
 * Decides which tool the SCRIPTED model calls on a turn where it calls one: a request that offers
 * {@code tools} and has no {@code tool} message yet.
 *
 * <p>Implementations must be deterministic (the same context gives the same call) and thread-safe:
 * the simulator calls them from several HTTP threads at once.
 */
@FunctionalInterface
public interface ToolCallRule {

    /**
     * The call to make, or empty to answer directly (with the schema-valid JSON answer) instead.
     */
    Optional<ToolInvocation> choose(ToolCallContext context);

    /**
     * The default rule: call the first offered tool with {@link #defaultArguments default
     * arguments}.
     */
    static ToolCallRule defaultRule() {
        return context -> Optional.of(new ToolInvocation(
                context.tools().get(0).name(), defaultArguments(context.tools().get(0), context)));
    }

    /**
     * Default arguments for {@code tool}, from its {@code parameters} schema: the required
     * properties, or all of them when none is required. A string property takes the value of the
     * first line of the last user message of the form {@code Name: value} whose name equals the
     * property name ignoring case (underscores and spaces count as the same), else the whole
     * trimmed last user message; an integer or number takes the schema {@code default}, else 1
     * (moved into its bounds); a boolean its {@code default}, else false; enums, consts, nested
     * objects and arrays follow {@link SchemaValueGenerator}'s rules.
     */
    static ObjectNode defaultArguments(ToolSpec tool, ToolCallContext context) {
        String lastUser = context.lastUserMessage();
        String whole = lastUser.trim();
        return new SchemaValueGenerator(tool.parameters(), SchemaValueGenerator.fields(lastUser), name -> whole)
                .generateArguments();
    }

    /**
     * Parses the command-line form: comma-separated {@code tool.param=REGEX} entries, each REGEX
     * with at least one capturing group, optionally followed by {@code =>TEMPLATE}. For example
     * {@code web_search.query=Topic: (.*)} or
     * {@code web_search.query=Topic: (.*)=>systems research context for $1,web_search.num_results=()=>5}.
     *
     * <p>The rule calls the first offered tool that has entries (the default rule when none has).
     * Its arguments start from {@link #defaultArguments}; then, for each entry, the REGEX is
     * searched (multi-line mode) in the last user message and, on a match, the parameter takes
     * group 1, or the TEMPLATE with {@code $n} group references, converted to the parameter's
     * schema type (integer, number, boolean) when it parses as one. An entry whose REGEX does not
     * match leaves the default value. A comma starts a new entry only where it is followed by
     * {@code name.name=}, so commas inside a REGEX are fine.
     *
     * @throws IllegalArgumentException for a malformed spec or REGEX, with the offending entry
     */
    static ToolCallRule parse(String spec) {
        return RegexToolCallRule.parse(spec);
    }
}
