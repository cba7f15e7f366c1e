package io.batchagent.schemas.serde;

import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ToolCall;
import io.batchagent.events.ToolRequest;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolResult;
import io.batchagent.events.state.MapOutcome;
import io.batchagent.events.state.PendingCall;
import io.batchagent.events.state.TurnAssembly;
import io.batchagent.events.state.Waiter;
import io.batchagent.events.state.WorkflowProgress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.kafka.common.errors.SerializationException;

/**
 * The registry-free default for embedded runs: a schema's id is derived from its Avro parsing
 * fingerprint (CRC-64-AVRO, top 31 bits), so every process and every rerun over the same data
 * directory agrees on ids without a server. Ids resolve for BatchAgent's own event and state-store schemas and
 * for any schema registered in this process.
 *
 * <p>The bytes on the topics stay in the Confluent wire format; only the id space differs from a
 * real registry's. Data written this way is not meant to be read through a real registry: point
 * {@code schema.registry.url} at one for deployments that share topics with other tools.
 */
public final class FingerprintSchemaIds implements SchemaRegistry {

    private static final List<Schema> EVENT_SCHEMAS = List.of(
            BatchSpec.getClassSchema(),
            AgentJob.getClassSchema(),
            AgentTurn.getClassSchema(),
            ToolRequest.getClassSchema(),
            ToolCall.getClassSchema(),
            ToolResult.getClassSchema(),
            ToolResponse.getClassSchema(),
            AgentResult.getClassSchema(),
            DeadLetter.getClassSchema(),
            PendingCall.getClassSchema(),
            TurnAssembly.getClassSchema(),
            WorkflowProgress.getClassSchema(),
            Waiter.getClassSchema(),
            // state-store values: a restarted stage reads them back before it has written one
            ChatMessage.getClassSchema(),
            MapOutcome.getClassSchema());

    private final Map<Integer, Schema> schemasById = new ConcurrentHashMap<>();
    /**
     * The ids of schemas registered already: a serializer registers its schema on every record, and the
     * fingerprint and the collision check each normalise the whole schema (a few per cent of a worker's CPU).
     */
    private final Map<Schema, Integer> idsBySchema = new ConcurrentHashMap<>();

    public FingerprintSchemaIds() {
        EVENT_SCHEMAS.forEach(schema -> register("", schema));
    }

    /** The id this registry gives {@code schema}. */
    public static int idOf(Schema schema) {
        return (int) (SchemaNormalization.parsingFingerprint64(schema) >>> 33);
    }

    @Override
    public int register(String subject, Schema schema) {
        Integer known = idsBySchema.get(schema);
        if (known != null) {
            return known;
        }
        int id = idOf(schema);
        Schema existing = schemasById.putIfAbsent(id, schema);
        if (existing != null
                && !SchemaNormalization.toParsingForm(existing).equals(SchemaNormalization.toParsingForm(schema))) {
            throw new SerializationException("fingerprint id collision between " + existing.getFullName() + " and "
                    + schema.getFullName() + "; configure a schema registry");
        }
        idsBySchema.put(schema, id);
        return id;
    }

    @Override
    public Schema schemaById(int id) {
        Schema schema = schemasById.get(id);
        if (schema == null) {
            throw new SerializationException(
                    "unknown schema id " + id + " (embedded mode knows BatchAgent's event schemas only)");
        }
        return schema;
    }
}
