package io.batchagent.inference;

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

    static EngineFailure http(int status, String message, boolean retriable) {
        return new EngineFailure(OptionalInt.of(status), message, retriable);
    }

    static EngineFailure other(String message, boolean retriable) {
        return new EngineFailure(OptionalInt.empty(), message, retriable);
    }
}
