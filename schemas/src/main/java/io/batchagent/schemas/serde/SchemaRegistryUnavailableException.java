package io.batchagent.schemas.serde;

import org.apache.kafka.common.errors.RetriableException;

/**
 * The schema registry could not be reached, timed out, or answered 408, 429 or 5xx, for longer than
 * the client retries. Retriable: the record is fine and must be processed again later, never
 * dead-lettered.
 */
public final class SchemaRegistryUnavailableException extends RetriableException {

    private static final long serialVersionUID = 1L;

    public SchemaRegistryUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
