package io.batchagent.simulator;

/**
 * A chat-completion request the simulator refuses with HTTP 400 and an OpenAI-style error body.
 * Carries the error {@code code} and the offending {@code param} (either may be null).
 */
final class InvalidRequestException extends Exception {

    private static final long serialVersionUID = 1L;

    private final String code;
    private final String param;

    InvalidRequestException(String message, String code, String param) {
        super(message);
        this.code = code;
        this.param = param;
    }

    String code() {
        return code;
    }

    String param() {
        return param;
    }
}
