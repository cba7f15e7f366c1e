package io.batchagent.tools.limits;

/** No permit could be had before the call's deadline. */
public final class LimitTimeoutException extends RuntimeException {

    public LimitTimeoutException(String message) {
        super(message, null, false, false);
    }
}
