package io.batchagent.inference;

import java.time.Duration;
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
        String message = UNAVAILABLE_MESSAGE + (budget.toMillis() % 1000 == 0 ? budget.toSeconds() + " s" : budget.toMillis() + " ms")
                + (last == null ? "" : "; last failure: " + last.message());
        return new EngineFailure(last == null ? OptionalInt.empty() : last.httpStatus(), message, true);
    }

    static EngineFailure http(int status, String message, boolean retriable) {
        return new EngineFailure(OptionalInt.of(status), message, retriable);
    }

    static EngineFailure other(String message, boolean retriable) {
        return new EngineFailure(OptionalInt.empty(), message, retriable);
    }
}
