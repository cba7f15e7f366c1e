package io.batchagent.tools.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.tools.BatchTool;
import io.batchagent.tools.ToolContext;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A batchable tool over a real PostgreSQL table: one {@code SELECT ... WHERE id = ANY(?)} answers
 * every call of a batch. Remembers the size of each batch it ran.
 */
public final class CustomerLookupTool implements BatchTool {

    public static final String NAME = "lookup_customer";
    public static final String JDBC_URL = "jdbc:postgresql://127.0.0.1:5432/test?user=postgres";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String table;
    private final List<Integer> batches = new CopyOnWriteArrayList<>();

    public CustomerLookupTool(String table) {
        this.table = table;
    }

    /** Creates the table with customers {@code c0 .. c<count-1>}. */
    public static void createTable(String table, int count) throws SQLException {
        try (Connection connection = DriverManager.getConnection(JDBC_URL);
                PreparedStatement create = connection.prepareStatement(
                        "CREATE TABLE " + table + " (id text PRIMARY KEY, name text NOT NULL)");
                PreparedStatement insert = connection.prepareStatement("INSERT INTO " + table + " VALUES (?, ?)")) {
            create.execute();
            for (int i = 0; i < count; i++) {
                insert.setString(1, "c" + i);
                insert.setString(2, "Customer " + i);
                insert.addBatch();
            }
            insert.executeBatch();
        }
    }

    public static void dropTable(String table) throws SQLException {
        try (Connection connection = DriverManager.getConnection(JDBC_URL);
                PreparedStatement drop = connection.prepareStatement("DROP TABLE IF EXISTS " + table)) {
            drop.execute();
        }
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<Outcome> executeBatch(List<JsonNode> arguments, ToolContext context) throws SQLException {
        batches.add(arguments.size());
        List<String> ids = arguments.stream().map(a -> a.path("id").asText()).toList();
        Map<String, String> names = new HashMap<>();
        try (Connection connection = DriverManager.getConnection(JDBC_URL);
                PreparedStatement query =
                        connection.prepareStatement("SELECT id, name FROM " + table + " WHERE id = ANY(?)")) {
            Array array = connection.createArrayOf("text", ids.toArray());
            query.setArray(1, array);
            try (ResultSet rows = query.executeQuery()) {
                while (rows.next()) {
                    names.put(rows.getString(1), rows.getString(2));
                }
            }
        }
        List<Outcome> outcomes = new ArrayList<>();
        for (String id : ids) {
            String name = names.get(id);
            outcomes.add(
                    name == null
                            ? Outcome.error("no customer with id '" + id + "'")
                            : Outcome.ok(JSON.createObjectNode()
                                    .put("id", id)
                                    .put("name", name)
                                    .toString()));
        }
        return outcomes;
    }

    /** The number of calls in each batch run so far. */
    public List<Integer> batches() {
        return List.copyOf(batches);
    }
}
