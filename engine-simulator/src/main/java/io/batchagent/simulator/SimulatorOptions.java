package io.batchagent.simulator;

import java.util.Objects;

/**
 * How to start an {@link EngineSimulator}. Build one with {@link #builder()}; every setting has a
 * default, so {@code SimulatorOptions.builder().build()} is a complete configuration.
 *
 * @param host address to bind; default {@code 127.0.0.1}
 * @param port TCP port; 0 (the default) picks a free one, see {@link EngineSimulator#port()}
 * @param profile the cost model; default {@link EngineProfile#INSTANT}
 * @param speedup simulated step durations are divided by this factor; default 1 (real time)
 * @param modelName the served model name; default {@code sim-model}
 * @param captureRequests keep every raw chat-completion request body for
 *     {@link EngineSimulator#capturedRequestBodies()}; default off
 * @param toolCallRule chooses the tool call a first turn answers with; default
 *     {@link ToolCallRule#defaultRule()}
 * @param failOnMarker when non-null, a request whose last user message contains this string is
 *     answered with HTTP 500; default null (never)
 * @param dialect which engine's request rules and priority polarity the server imitates; default
 *     {@link SimulatorDialect#SGLANG} (higher {@code priority} first, lenient validation)
 * @param priorityScheduling whether {@code priority} is honoured, as SGLang's
 *     {@code --enable-priority-scheduling} or vLLM's {@code --scheduling-policy priority}; when off, the
 *     SGLang dialect ignores the field and the vLLM dialect rejects a non-zero value with HTTP 400, as
 *     vLLM does. Default on
 * @param cacheReport whether usage carries {@code prompt_tokens_details.cached_tokens}, as SGLang's
 *     {@code --enable-cache-report} or vLLM's {@code --enable-prompt-tokens-details}; when off it is
 *     {@code null}. Default on
 * @param invalidAnswers how many final answers per conversation the scripted model gets wrong
 *     (JSON that misses the schema's required fields) before it answers validly; counts the
 *     assistant answers without tool calls already in the conversation. Default 0
 * @param faults SIMULATED faults injected into chat completions (outage, 5xx, 429, malformed
 *     stream, hang); changeable at run time with {@code POST /admin/faults}. Default none
 * @param varyAnswersSeed when non-null, the scripted model is no longer deterministic: after its
 *     first tool result it calls a second offered tool on about half the calls, and its answers
 *     carry a per-call random part, from a generator seeded with this value. Two calls for the
 *     same turn then differ, as a real model's would. Default null (deterministic)
 * @param toolTurns how many tool turns the scripted model takes before it answers: it asks for a tool
 *     while the conversation has fewer than this many assistant tool calls (a long agent's shape).
 *     Default 1 (one tool call, then the answer)
 * @param contextTokens the SIMULATED model's context window: a prompt of at least this many tokens
 *     (SGLang; more than this many for vLLM) is refused with HTTP 400 and the imitated engine's own
 *     message and error body. Default 0 (no window; only the KV capacity bounds a request)
 */
public record SimulatorOptions(
        String host,
        int port,
        EngineProfile profile,
        double speedup,
        String modelName,
        boolean captureRequests,
        ToolCallRule toolCallRule,
        String failOnMarker,
        SimulatorDialect dialect,
        boolean priorityScheduling,
        boolean cacheReport,
        int invalidAnswers,
        EngineFaults faults,
        Long varyAnswersSeed,
        int toolTurns,
        int contextTokens) {

    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final String DEFAULT_MODEL_NAME = "sim-model";

    public SimulatorOptions {
        host = host == null ? DEFAULT_HOST : host;
        profile = profile == null ? EngineProfile.INSTANT : profile;
        modelName = modelName == null ? DEFAULT_MODEL_NAME : modelName;
        toolCallRule = toolCallRule == null ? ToolCallRule.defaultRule() : toolCallRule;
        dialect = dialect == null ? SimulatorDialect.SGLANG : dialect;
        faults = faults == null ? EngineFaults.NONE : faults;
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException("port must be in [0, 65535], was " + port);
        }
        if (!(speedup > 0) || Double.isInfinite(speedup)) {
            throw new IllegalArgumentException("speedup must be a finite number > 0, was " + speedup);
        }
        if (modelName.isBlank()) {
            throw new IllegalArgumentException("modelName must not be blank");
        }
        if (invalidAnswers < 0) {
            throw new IllegalArgumentException("invalidAnswers must not be negative, was " + invalidAnswers);
        }
        if (toolTurns < 0 || contextTokens < 0) {
            throw new IllegalArgumentException(
                    "toolTurns and contextTokens must not be negative, were " + toolTurns + " and " + contextTokens);
        }
        if (failOnMarker != null && failOnMarker.isEmpty()) {
            throw new IllegalArgumentException("failOnMarker must be null or non-empty");
        }
    }

    /** A builder holding the defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder that starts from these options. */
    public Builder toBuilder() {
        return new Builder()
                .host(host)
                .port(port)
                .profile(profile)
                .speedup(speedup)
                .modelName(modelName)
                .captureRequests(captureRequests)
                .toolCallRule(toolCallRule)
                .failOnMarker(failOnMarker)
                .dialect(dialect)
                .priorityScheduling(priorityScheduling)
                .cacheReport(cacheReport)
                .invalidAnswers(invalidAnswers)
                .faults(faults)
                .varyAnswersSeed(varyAnswersSeed)
                .toolTurns(toolTurns)
                .contextTokens(contextTokens);
    }

    /** Mutable, not thread-safe builder for {@link SimulatorOptions}. */
    public static final class Builder {
        private String host = DEFAULT_HOST;
        private int port;
        private EngineProfile profile = EngineProfile.INSTANT;
        private double speedup = 1;
        private String modelName = DEFAULT_MODEL_NAME;
        private boolean captureRequests;
        private ToolCallRule toolCallRule = ToolCallRule.defaultRule();
        private String failOnMarker;
        private int invalidAnswers;
        private SimulatorDialect dialect = SimulatorDialect.SGLANG;
        private boolean priorityScheduling = true;
        private boolean cacheReport = true;
        private EngineFaults faults = EngineFaults.NONE;
        private Long varyAnswersSeed;
        private int toolTurns = 1;
        private int contextTokens;

        private Builder() {}

        public Builder host(String host) {
            this.host = Objects.requireNonNull(host, "host");
            return this;
        }

        public Builder port(int port) {
            this.port = port;
            return this;
        }

        public Builder profile(EngineProfile profile) {
            this.profile = Objects.requireNonNull(profile, "profile");
            return this;
        }

        /** Shorthand for {@code profile(EngineProfile.named(name))}. */
        public Builder profile(String name) {
            return profile(EngineProfile.named(name));
        }

        public Builder speedup(double speedup) {
            this.speedup = speedup;
            return this;
        }

        public Builder modelName(String modelName) {
            this.modelName = Objects.requireNonNull(modelName, "modelName");
            return this;
        }

        public Builder captureRequests(boolean captureRequests) {
            this.captureRequests = captureRequests;
            return this;
        }

        public Builder toolCallRule(ToolCallRule toolCallRule) {
            this.toolCallRule = Objects.requireNonNull(toolCallRule, "toolCallRule");
            return this;
        }

        /** Shorthand for {@code toolCallRule(ToolCallRule.parse(spec))}. */
        public Builder toolCallRule(String spec) {
            return toolCallRule(ToolCallRule.parse(spec));
        }

        public Builder failOnMarker(String failOnMarker) {
            this.failOnMarker = failOnMarker;
            return this;
        }

        public Builder dialect(SimulatorDialect dialect) {
            this.dialect = Objects.requireNonNull(dialect, "dialect");
            return this;
        }

        public Builder priorityScheduling(boolean priorityScheduling) {
            this.priorityScheduling = priorityScheduling;
            return this;
        }

        public Builder cacheReport(boolean cacheReport) {
            this.cacheReport = cacheReport;
            return this;
        }

        public Builder invalidAnswers(int invalidAnswers) {
            this.invalidAnswers = invalidAnswers;
            return this;
        }

        public Builder faults(EngineFaults faults) {
            this.faults = Objects.requireNonNull(faults, "faults");
            return this;
        }

        /** @param seed null for the deterministic scripted model */
        public Builder varyAnswersSeed(Long seed) {
            this.varyAnswersSeed = seed;
            return this;
        }

        public Builder toolTurns(int toolTurns) {
            this.toolTurns = toolTurns;
            return this;
        }

        public Builder contextTokens(int contextTokens) {
            this.contextTokens = contextTokens;
            return this;
        }

        public SimulatorOptions build() {
            return new SimulatorOptions(
                    host,
                    port,
                    profile,
                    speedup,
                    modelName,
                    captureRequests,
                    toolCallRule,
                    failOnMarker,
                    dialect,
                    priorityScheduling,
                    cacheReport,
                    invalidAnswers,
                    faults,
                    varyAnswersSeed,
                    toolTurns,
                    contextTokens);
        }
    }
}
