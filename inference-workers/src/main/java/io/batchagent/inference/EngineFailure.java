package io.batchagent.inference;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * Why a model call failed.
 *
 * @param httpStatus the engine's HTTP status, when it answered with one
 * @param message a specific, human-readable reason, with an excerpt of the engine's answer where
 *     there was one; never contains the API key
 * @param retriable whether the same request could succeed later (overload, connection problems);
 *     the client has already retried such failures as often as it was configured to
 */
public record EngineFailure(OptionalInt httpStatus, String message, boolean retriable) {

    public EngineFailure {
        httpStatus = httpStatus == null ? OptionalInt.empty() : httpStatus;
        Objects.requireNonNull(message, "message");
    }

    /** How a timed-out model call's message begins; see {@link #isTimeout()}. */
    static final String TIMEOUT_MESSAGE = "no complete answer from the engine within ";

    /** True when the call ran past the per-turn timeout (the engine timeout). */
    public boolean isTimeout() {
        return message.contains(TIMEOUT_MESSAGE);
    }

    /** How a model call's message begins when the engine stayed unavailable past the outage budget; see {@link #isUnavailable()}. */
    static final String UNAVAILABLE_MESSAGE = "the engine stayed unavailable past the outage budget of ";

    /** True when the call gave up on an engine that failed for everyone longer than the outage budget ({@link OutageGuard}). */
    public boolean isUnavailable() {
        return message.startsWith(UNAVAILABLE_MESSAGE);
    }

    /** The engine was unavailable past {@code budget}; {@code last} is the last failure seen, or null. */
    static EngineFailure unavailable(Duration budget, EngineFailure last) {
        String message = UNAVAILABLE_MESSAGE
                + (budget.toMillis() % 1000 == 0 ? budget.toSeconds() + " s" : budget.toMillis() + " ms")
                + (last == null ? "" : "; last failure: " + last.message());
        return new EngineFailure(last == null ? OptionalInt.empty() : last.httpStatus(), message, true);
    }

    /**
     * How engines word a prompt over the model's context window, lower case: vLLM ("This model's maximum
     * context length is N tokens. However, your request has M input tokens"), SGLang ("The input (M tokens)
     * is longer than the model's context length (N tokens)", "Requested token count exceeds the model's
     * maximum context length"), the OpenAI API (code context_length_exceeded), Anthropic ("prompt is too
     * long"), Bedrock ("Input is too long for requested model").
     */
    private static final List<String> CONTEXT_OVERFLOW_PHRASES = List.of(
            "maximum context length",
            "longer than the model's context length",
            "context_length_exceeded",
            "prompt is too long",
            "input is too long");

    /** True when the engine refused the prompt as longer than the model's context window (an HTTP 400 or 413). */
    public boolean isContextOverflow() {
        if (httpStatus.isEmpty() || (httpStatus.getAsInt() != 400 && httpStatus.getAsInt() != 413)) {
            return false;
        }
        String lower = message.toLowerCase(Locale.ROOT);
        return CONTEXT_OVERFLOW_PHRASES.stream().anyMatch(lower::contains);
    }

    static EngineFailure http(int status, String message, boolean retriable) {
        return new EngineFailure(OptionalInt.of(status), message, retriable);
    }

    static EngineFailure other(String message, boolean retriable) {
        return new EngineFailure(OptionalInt.empty(), message, retriable);
    }
}
