package io.batchagent.tools.builtin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.testkit.TestNames;
import io.batchagent.tools.ToolContext;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code sql_query} against the machine's PostgreSQL (database {@code test}), on a table of the test's own. */
class SqlQueryToolIT {

    private static final String URL = "jdbc:postgresql://127.0.0.1:5432/test";
    private static final ObjectMapper JSON = new ObjectMapper();

    private String table;
    private SqlQueryTool tool;

    @BeforeEach
    void table(TestInfo info) throws SQLException {
        table = "sql_query_" + TestNames.of(info).name().replaceAll("^.*-", "");
        try (Connection connection = DriverManager.getConnection(URL, "postgres", "");
                Statement statement = connection.createStatement()) {
            statement.execute("CREATE TABLE " + table + " (id int PRIMARY KEY, name text, score numeric)");
            statement.execute(
                    "INSERT INTO " + table + " SELECT i, 'name ' || i, i * 1.5 FROM generate_series(1, 250) i");
        }
        tool = new SqlQueryTool();
        tool.configure(Map.of("url", URL, "user", "postgres", "max.rows", "100", "timeout.ms", "1000"));
    }

    @AfterEach
    void drop() throws SQLException {
        try (Connection connection = DriverManager.getConnection(URL, "postgres", "");
                Statement statement = connection.createStatement()) {
            statement.execute("DROP TABLE IF EXISTS " + table);
        }
    }

    private JsonNode query(String sql, Object... params) throws Exception {
        var arguments = JSON.createObjectNode().put("query", sql);
        var array = arguments.putArray("params");
        for (Object param : params) {
            array.add(JSON.<JsonNode>valueToTree(param));
        }
        return JSON.readTree(
                tool.execute(arguments, new ToolContext("h", "b", Instant.now().plusSeconds(10))));
    }

    @Test
    void shouldAnswerASelectWithColumnsAndRows() throws Exception {
        JsonNode result = query("SELECT id, name, score FROM " + table + " WHERE id <= ? ORDER BY id", 2);

        assertThat(result.toString())
                .isEqualTo("{\"columns\":[\"id\",\"name\",\"score\"],"
                        + "\"rows\":[[1,\"name 1\",1.5],[2,\"name 2\",3.0]],\"row_count\":2,\"truncated\":false}");
    }

    @Test
    void shouldCapTheRowsAndSaySo() throws Exception {
        JsonNode result = query("-- all of them\nSELECT id FROM " + table + " ORDER BY id;");

        assertThat(result.path("rows")).hasSize(100);
        assertThat(result.path("truncated").asBoolean()).isTrue();
        assertThat(result.path("note").asText()).contains("only the first 100 rows");
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "INSERT INTO %s VALUES (999, 'x', 1)",
                "UPDATE %s SET name = 'changed'",
                "DELETE FROM %s",
                "DROP TABLE %s",
                "CREATE TABLE %s_copy (id int)",
                "ALTER TABLE %s ADD COLUMN extra int",
                "TRUNCATE %s",
                "GRANT SELECT ON %s TO PUBLIC",
                "/* looks harmless */ insert into %s values (1000, 'y', 2)",
                "SELECT 1; DELETE FROM %s",
                "EXPLAIN ANALYZE DELETE FROM %s"
            })
    void shouldRefuseStatementsThatWriteBeforeRunningThem(String statement) {
        assertThatThrownBy(() -> query(statement.formatted(table)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("sql_query ");
        assertThat(rows()).isEqualTo(250);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "WITH gone AS (DELETE FROM %s RETURNING id) SELECT count(*) FROM gone",
                "WITH added AS (INSERT INTO %s VALUES (999, 'x', 1) RETURNING id) SELECT * FROM added",
                "SELECT * FROM %s FOR UPDATE"
            })
    void shouldHaveTheDatabaseRefuseWritesHiddenInsideAQuery(String statement) {
        assertThatThrownBy(() -> query(statement.formatted(table)))
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("read-only transaction")
                .hasMessageContaining("SQLSTATE 25006");
        assertThat(rows()).isEqualTo(250);
    }

    @Test
    void shouldStopAStatementAtItsTimeout() {
        assertThatThrownBy(() -> query("SELECT pg_sleep(5)"))
                .isInstanceOf(SQLException.class)
                .hasMessageContaining("canceling statement due to statement timeout");
    }

    @Test
    void shouldKeepThePasswordOutOfItsDescriptionAndRefuseWithoutADatabase() throws Exception {
        SqlQueryTool secret = new SqlQueryTool();
        secret.configure(Map.of("url", URL + "?password=hunter2", "user", "postgres", "password", "hunter3"));

        assertThat(secret.toString())
                .doesNotContain("hunter2")
                .doesNotContain("hunter3")
                .contains("password=***");
        assertThatThrownBy(() -> new SqlQueryTool()
                        .execute(
                                JSON.createObjectNode().put("query", "SELECT 1"),
                                new ToolContext("h", "b", Instant.now().plusSeconds(5))))
                .hasMessage("sql_query has no database configured; set the tool option sql_query.url");
    }

    private long rows() {
        try (Connection connection = DriverManager.getConnection(URL, "postgres", "");
                Statement statement = connection.createStatement();
                var count = statement.executeQuery("SELECT count(*) FROM " + table)) {
            count.next();
            return count.getLong(1);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }
}
