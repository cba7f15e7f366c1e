package io.batchagent.schemas.serde;

import org.apache.avro.Schema;

/** The two Schema Registry operations the wire format needs. Implementations are thread-safe. */
public interface SchemaRegistry {

    /** Registers {@code schema} under {@code subject} (idempotent) and returns its global id. */
    int register(String subject, Schema schema);

    /** Returns the schema with global id {@code id}. */
    Schema schemaById(int id);
}
