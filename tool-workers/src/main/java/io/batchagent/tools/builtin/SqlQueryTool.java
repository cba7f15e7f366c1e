package io.batchagent.tools.builtin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * {@code sql_query}: runs one read-only SQL query over JDBC against the configured database and
 * returns the rows as JSON: {@code {"columns": [...], "rows": [[...], ...], "row_count": n,
 * "truncated": false}}.
 *
 * <p>Read-only twice over: the statement must be a single {@code SELECT}, {@code WITH},
 * {@code VALUES}, {@code TABLE} or {@code SHOW} (checked on its text with comments and literals
 * skipped: no second statement, no {@code EXPLAIN ANALYZE}), and it runs in a read-only transaction
 * that is always rolled back, so that a write hidden in a function or a CTE is refused by the
 * database itself. At most {@code sql_query.max.rows} rows are returned (default
 * {@value #DEFAULT_MAX_ROWS}); the output then says it was truncated. Each statement has a timeout,
 * {@code sql_query.timeout.ms} (default 10 s, never more than the call's deadline), enforced by the
 * driver and, on PostgreSQL, by {@code statement_timeout}.
 *
 * <p>Options: {@code sql_query.url} (a JDBC URL; with none every call is refused),
 * {@code sql_query.user}, {@code sql_query.password} or, better, {@code sql_query.password.env}
 * naming the environment variable that holds it. The password never appears in results, logs or
 * {@link #toString()}. Give it a database user with read permissions only, as well. Arguments:
 * {@code query}, and optional positional {@code params} bound to {@code ?} markers. One connection
 * per call. Thread-safe.
 */
public final class SqlQueryTool implements Tool {

    public static final String NAME = "sql_query";
    public static final int DEFAULT_MAX_ROWS = 100;
    public static final int MAX_QUERY_CHARS = 20_000;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> READ_ONLY_STARTS = Set.of("select", "with", "values", "table", "show");

    private volatile String url;
    private volatile String user;
    private volatile String password;
    private volatile int maxRows = DEFAULT_MAX_ROWS;
    private volatile Duration timeout = Duration.ofSeconds(10);

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String description() {
        return "Runs one read-only SQL query (SELECT) against the configured database and returns the rows as JSON.";
    }

    @Override
    public String parametersJson() {
        return "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\",\"description\":\"one SELECT statement\"},"
                + "\"params\":{\"type\":\"array\",\"description\":\"values for the ? markers, in order\"}},"
                + "\"required\":[\"query\"]}";
    }

    /** Options: {@code url}, {@code user}, {@code password} or {@code password.env}, {@code max.rows}, {@code timeout.ms}. */
    @Override
    public void configure(Map<String, String> options) {
        if (options.containsKey("url")) {
            String value = options.get("url").strip();
            if (!value.startsWith("jdbc:")) {
                throw new IllegalArgumentException("url must be a JDBC URL (jdbc:...), got "
                        + value.replaceAll("password=[^&;]*", "password=***"));
            }
            url = value;
        }
        if (options.containsKey("user")) {
            user = options.get("user");
        }
        String secret = Options.secret(options, "password");
        if (secret != null) {
            password = secret;
        }
        maxRows = Options.positiveInt(options, "max.rows", maxRows);
        timeout = Options.millis(options, "timeout.ms", timeout);
    }

    @Override
    public String execute(JsonNode arguments, ToolContext context) throws SQLException {
        String jdbcUrl = url;
        if (jdbcUrl == null) {
            throw new IllegalStateException("sql_query has no database configured; set the tool option sql_query.url");
        }
        String query = Arguments.requiredText(arguments, NAME, "query").strip();
        checkReadOnly(query);
        JsonNode params = arguments.path("params");
        if (!params.isMissingNode() && !params.isNull() && !params.isArray()) {
            throw new IllegalArgumentException("sql_query argument 'params' must be an array");
        }
        Duration left = context.remaining();
        Duration limit = left.compareTo(timeout) < 0 ? left : timeout;
        int rowsCap = maxRows;
        Properties properties = new Properties();
        if (user != null) {
            properties.setProperty("user", user);
        }
        if (password != null) {
            properties.setProperty("password", password);
        }
        try (Connection connection = DriverManager.getConnection(jdbcUrl, properties)) {
            connection.setAutoCommit(false);
            connection.setReadOnly(true);
            try {
                if (isPostgres(connection)) {
                    try (Statement set = connection.createStatement()) {
                        set.execute("SET TRANSACTION READ ONLY");
                        set.execute("SET LOCAL statement_timeout = " + Math.max(1, limit.toMillis()));
                    }
                }
                try (PreparedStatement statement = connection.prepareStatement(query)) {
                    statement.setQueryTimeout((int) Math.max(1, (limit.toMillis() + 999) / 1000));
                    statement.setMaxRows(rowsCap + 1);
                    statement.setFetchSize(Math.min(rowsCap + 1, 500));
                    if (params.isArray()) {
                        for (int i = 0; i < params.size(); i++) {
                            statement.setObject(i + 1, value(params.get(i)));
                        }
                    }
                    if (!statement.execute()) {
                        throw new IllegalArgumentException("sql_query: the statement returned no rows to read");
                    }
                    try (ResultSet rows = statement.getResultSet()) {
                        return render(rows, rowsCap);
                    }
                }
            } finally {
                connection.rollback();
            }
        } catch (SQLException e) {
            // The database's own words tell the model what to fix; the URL and credentials are not in them.
            throw new SQLException("sql_query failed: " + e.getMessage()
                    + (e.getSQLState() == null ? "" : " (SQLSTATE " + e.getSQLState() + ")"));
        }
    }

    /**
     * Refuses anything but one read-only statement.
     *
     * @throws IllegalArgumentException naming what was refused
     */
    static void checkReadOnly(String query) {
        if (query.length() > MAX_QUERY_CHARS) {
            throw new IllegalArgumentException("sql_query refuses a statement of " + query.length()
                    + " characters; the most is " + MAX_QUERY_CHARS);
        }
        String code = withoutCommentsAndLiterals(query).strip();
        while (code.endsWith(";")) {
            code = code.substring(0, code.length() - 1).strip();
        }
        if (code.indexOf(';') >= 0) {
            throw new IllegalArgumentException(
                    "sql_query runs one statement at a time; remove the ';' between statements");
        }
        String first = code.split("[\\s(]+", 2)[0].toLowerCase(Locale.ROOT);
        if (!READ_ONLY_STARTS.contains(first)) {
            throw new IllegalArgumentException(
                    "sql_query is read-only: it runs SELECT, WITH, VALUES, TABLE or SHOW statements, not "
                            + (first.isEmpty() ? "an empty statement" : first.toUpperCase(Locale.ROOT)));
        }
    }

    /** The statement with comments removed and string, identifier and dollar-quoted literals blanked. */
    static String withoutCommentsAndLiterals(String sql) {
        StringBuilder out = new StringBuilder(sql.length());
        int i = 0;
        int n = sql.length();
        while (i < n) {
            char c = sql.charAt(i);
            if (c == '-' && i + 1 < n && sql.charAt(i + 1) == '-') {
                while (i < n && sql.charAt(i) != '\n') {
                    i++;
                }
                out.append(' ');
            } else if (c == '/' && i + 1 < n && sql.charAt(i + 1) == '*') {
                int depth = 0;
                do {
                    if (sql.startsWith("/*", i)) {
                        depth++;
                        i += 2;
                    } else if (sql.startsWith("*/", i)) {
                        depth--;
                        i += 2;
                    } else {
                        i++;
                    }
                } while (i < n && depth > 0);
                if (depth > 0) {
                    throw new IllegalArgumentException("sql_query: the statement has an unterminated /* comment");
                }
                out.append(' ');
            } else if (c == '\'' || c == '"') {
                int end = i + 1;
                while (true) {
                    if (end >= n) {
                        throw new IllegalArgumentException("sql_query: the statement has an unterminated "
                                + (c == '\'' ? "string" : "quoted identifier"));
                    }
                    if (sql.charAt(end) == c) {
                        if (end + 1 < n && sql.charAt(end + 1) == c) {
                            end += 2;
                            continue;
                        }
                        break;
                    }
                    end++;
                }
                out.append(c).append(c);
                i = end + 1;
            } else if (c == '$' && dollarTag(sql, i) != null) {
                String tag = dollarTag(sql, i);
                int close = sql.indexOf(tag, i + tag.length());
                if (close < 0) {
                    throw new IllegalArgumentException(
                            "sql_query: the statement has an unterminated " + tag + " quote");
                }
                out.append("''");
                i = close + tag.length();
            } else {
                out.append(c);
                i++;
            }
        }
        return out.toString();
    }

    private static String dollarTag(String sql, int start) {
        int end = start + 1;
        while (end < sql.length() && (Character.isLetterOrDigit(sql.charAt(end)) || sql.charAt(end) == '_')) {
            end++;
        }
        return end < sql.length()
                        && sql.charAt(end) == '$'
                        && (end == start + 1 || !Character.isDigit(sql.charAt(start + 1)))
                ? sql.substring(start, end + 1)
                : null;
    }

    private static String render(ResultSet rows, int cap) throws SQLException {
        ResultSetMetaData meta = rows.getMetaData();
        ObjectNode out = JSON.createObjectNode();
        ArrayNode columns = out.putArray("columns");
        for (int c = 1; c <= meta.getColumnCount(); c++) {
            columns.add(meta.getColumnLabel(c));
        }
        ArrayNode data = out.putArray("rows");
        int count = 0;
        boolean truncated = false;
        while (rows.next()) {
            if (count == cap) {
                truncated = true;
                break;
            }
            ArrayNode row = data.addArray();
            for (int c = 1; c <= meta.getColumnCount(); c++) {
                Object value = rows.getObject(c);
                if (value == null) {
                    row.addNull();
                } else if (value instanceof Number number) {
                    row.add(number instanceof BigDecimal big ? big : new BigDecimal(number.toString()));
                } else if (value instanceof Boolean bool) {
                    row.add(bool);
                } else {
                    row.add(value.toString());
                }
            }
            count++;
        }
        out.put("row_count", count);
        out.put("truncated", truncated);
        if (truncated) {
            out.put("note", "only the first " + cap + " rows are shown; narrow the query (WHERE, LIMIT) to see others");
        }
        return out.toString();
    }

    private static Object value(JsonNode param) {
        if (param == null || param.isNull()) {
            return null;
        }
        if (param.isIntegralNumber()) {
            return param.canConvertToLong() ? (Object) param.longValue() : param.bigIntegerValue();
        }
        if (param.isNumber()) {
            return param.decimalValue();
        }
        if (param.isBoolean()) {
            return param.booleanValue();
        }
        if (param.isTextual()) {
            return param.textValue();
        }
        throw new IllegalArgumentException("sql_query params must be strings, numbers, booleans or null, got " + param);
    }

    private static boolean isPostgres(Connection connection) throws SQLException {
        return connection
                .getMetaData()
                .getDatabaseProductName()
                .toLowerCase(Locale.ROOT)
                .contains("postgres");
    }

    @Override
    public String toString() {
        return "SqlQueryTool[url=" + (url == null ? "none" : url.replaceAll("password=[^&;]*", "password=***"))
                + ", user=" + user + ", password=" + (password == null ? "none" : "***") + ", maxRows=" + maxRows + "]";
    }
}
