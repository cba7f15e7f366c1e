package io.batchagent.schemas.serde;

import io.batchagent.schemas.RecordLimits;
import java.lang.reflect.InvocationTargetException;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.specific.SpecificRecord;
import org.apache.avro.util.ClassSecurityValidator;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.Serde;

/**
 * Makes the value serdes of the topic catalogue from configuration.
 *
 * <ul>
 *   <li>{@value #VALUE_SERDE_CLASS_CONFIG}: a {@link Serde} class for Avro SpecificRecords with a
 *       public no-argument constructor, configured with the same map (for example Confluent's
 *       {@code io.confluent.kafka.streams.serdes.avro.SpecificAvroSerde}). Default:
 *       {@link AvroWireSerde}.
 *   <li>{@value #SCHEMA_REGISTRY_URL_CONFIG}: the registry's base URL; absent or {@code embedded}
 *       for registry-free fingerprint ids ({@link FingerprintSchemaIds}).
 *   <li>{@value RestSchemaRegistry#RETRY_TIMEOUT_MS_CONFIG}: how long a registry call is retried while
 *       the registry is unreachable or answers 5xx, before the call fails retriably.
 *   <li>{@value RecordLimits#MAX_RECORD_BYTES_CONFIG}: the record budget ({@link RecordLimits}); every
 *       serde refuses to write a value over it.
 * </ul>
 */
public final class EventSerdes {

    public static final String VALUE_SERDE_CLASS_CONFIG = "value.serde.class";
    public static final String SCHEMA_REGISTRY_URL_CONFIG = "schema.registry.url";
    public static final String EMBEDDED_REGISTRY = "embedded";

    private static final Map<String, SchemaRegistry> REGISTRIES = new ConcurrentHashMap<>();
    private static final String EVENTS_PACKAGE = "io.batchagent.events.";
    private static volatile boolean eventClassesTrusted;

    static {
        trustEventClasses();
    }

    private final Map<String, Object> config;
    private final String serdeClass;
    private final RecordLimits limits;

    private EventSerdes(Map<String, ?> config) {
        this.config = new HashMap<>(config);
        Object configured = config.get(VALUE_SERDE_CLASS_CONFIG);
        this.serdeClass = configured == null ? AvroWireSerde.class.getName() : configured.toString();
        this.limits = RecordLimits.from(config);
    }

    public static EventSerdes create(Map<String, ?> config) {
        return new EventSerdes(config);
    }

    /** The record budget these serdes write under. */
    public RecordLimits limits() {
        return limits;
    }

    /** A configured value serde for {@code type}; it refuses values over {@link RecordLimits#maxValueBytes()}. */
    @SuppressWarnings("unchecked")
    public <T extends SpecificRecord> Serde<T> valueSerde(Class<T> type) {
        Serde<T> serde;
        if (serdeClass.equals(AvroWireSerde.class.getName())) {
            serde = new AvroWireSerde<>(type);
        } else {
            try {
                serde = (Serde<T>)
                        Class.forName(serdeClass).getDeclaredConstructor().newInstance();
            } catch (ClassNotFoundException
                    | NoSuchMethodException
                    | InstantiationException
                    | IllegalAccessException
                    | InvocationTargetException
                    | ClassCastException e) {
                throw new ConfigException(
                        VALUE_SERDE_CLASS_CONFIG,
                        serdeClass,
                        "must name a Serde class with a public no-argument constructor: " + e);
            }
        }
        serde.configure(config, false);
        return new BoundedSerde<>(serde, limits);
    }

    /**
     * Avro 1.12 refuses to load record classes by name (as its readers and copy builders do) unless
     * they are trusted; BatchAgent's own generated events are, in addition to whatever the process
     * already trusts. Called by every entry point to the events ({@link io.batchagent.schemas.Topics},
     * the serdes), so it holds whichever serde class is configured.
     */
    public static synchronized void trustEventClasses() {
        if (eventClassesTrusted) {
            return;
        }
        ClassSecurityValidator.ClassSecurityPredicate current = ClassSecurityValidator.getGlobal();
        ClassSecurityValidator.setGlobal(
                ClassSecurityValidator.composite(current, type -> type.getName().startsWith(EVENTS_PACKAGE)));
        eventClassesTrusted = true;
    }

    /** The registry for a serde configuration; one shared client per URL. */
    static SchemaRegistry registryFor(Map<String, ?> configs) {
        Object url = configs.get(SCHEMA_REGISTRY_URL_CONFIG);
        String key = url == null || url.toString().isBlank()
                ? EMBEDDED_REGISTRY
                : url.toString().trim();
        return REGISTRIES.computeIfAbsent(
                key,
                k -> k.equals(EMBEDDED_REGISTRY)
                        ? new FingerprintSchemaIds()
                        : new RestSchemaRegistry(k, RestSchemaRegistry.retryTimeout(configs)));
    }
}
