package io.batchagent.bench.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** JSON helpers for the results files. */
public final class Json {

    public static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Json() {}

    /** Puts a number rounded to 4 decimals, or null for NaN and infinities (JSON has neither). */
    public static void putNumber(ObjectNode node, String field, double value) {
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            node.putNull(field);
        } else {
            node.put(field, Math.round(value * 10_000) / 10_000.0);
        }
    }

    public static ObjectNode stats(Stats stats) {
        ObjectNode node = JsonNodeFactory.instance.objectNode();
        node.put("count", stats.count());
        putNumber(node, "min", stats.min());
        putNumber(node, "p50", stats.p50());
        putNumber(node, "p95", stats.p95());
        putNumber(node, "p99", stats.p99());
        putNumber(node, "max", stats.max());
        putNumber(node, "mean", stats.mean());
        return node;
    }
}
