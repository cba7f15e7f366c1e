package io.batchagent.inference;

import java.time.Duration;
import java.util.OptionalInt;

/**
 * Why one attempt of a model call failed, and whether another attempt could succeed. Internal to the
 * clients: {@link EngineRetry} retries on it and turns the last one into an {@link EngineFailure}.
 * Messages never hold a credential.
 */
final class AttemptFailure extends RuntimeException {

    private static final long serialVersionUID = 1L;

    final OptionalInt httpStatus;
    final String headline;
    final String detail;
    final boolean retriable;
    final Duration retryAfter;

    /**
     * @param headline what failed, e.g. {@code engine answered HTTP 503 Service Unavailable to POST <url>}
     * @param detail the engine's own message or the cause, or null
     * @param retryAfter the wait the engine asked for, or null
     */
    AttemptFailure(OptionalInt httpStatus, String headline, String detail, boolean retriable, Duration retryAfter) {
        super(detail == null ? headline : headline + ": " + detail, null, false, false);
        this.httpStatus = httpStatus == null ? OptionalInt.empty() : httpStatus;
        this.headline = headline;
        this.detail = detail;
        this.retriable = retriable;
        this.retryAfter = retryAfter;
    }

    /** An HTTP error answer; retriable for {@link EngineMessages#RETRIED_STATUSES}. */
    static AttemptFailure http(int status, String reason, String request, String body, Duration retryAfter) {
        return new AttemptFailure(
                OptionalInt.of(status),
                "engine answered HTTP " + status + " " + reason + " to " + request,
                EngineMessages.engineMessage(body),
                EngineMessages.RETRIED_STATUSES.contains(status),
                retryAfter);
    }

    /** A failure the answer itself reported (an error event, a stream cut short). */
    static AttemptFailure of(EngineFailure failure) {
        return new AttemptFailure(failure.httpStatus(), failure.message(), null, failure.retriable(), null);
    }

    /** The same failure with every occurrence of {@code secret} (an API key an engine may echo) masked. */
    AttemptFailure redacted(String secret) {
        if (secret == null || secret.isEmpty()) {
            return this;
        }
        return new AttemptFailure(
                httpStatus,
                headline.replace(secret, "****"),
                detail == null ? null : detail.replace(secret, "****"),
                retriable,
                retryAfter);
    }

    /** Whether another attempt is allowed: retriable, and not asked to wait longer than a worker waits. */
    boolean worthRetrying() {
        return retriable && (retryAfter == null || retryAfter.compareTo(InferenceWorkerConfig.MAX_RETRY_AFTER) <= 0);
    }

    /** The failure to report after {@code attempts} attempts. */
    EngineFailure toFailure(int attempts) {
        String tries = attempts > 1 ? " (" + attempts + " attempts)" : "";
        StringBuilder message = new StringBuilder(headline).append(tries);
        if (detail != null) {
            message.append(": ").append(detail);
        }
        if (retriable && !worthRetrying()) {
            message.append("; the engine asked to retry after ")
                    .append(retryAfter.toSeconds())
                    .append(" s, longer than the ")
                    .append(InferenceWorkerConfig.MAX_RETRY_AFTER.toSeconds())
                    .append(" s a worker waits");
        }
        return new EngineFailure(httpStatus, message.toString(), retriable);
    }
}
