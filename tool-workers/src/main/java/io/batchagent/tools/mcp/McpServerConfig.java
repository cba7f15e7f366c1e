package io.batchagent.tools.mcp;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * An MCP server a tool worker connects to, by name: a local process speaking stdio, or a remote
 * server speaking streamable HTTP. Batches refer to it by name ({@code ToolSpec.mcpServer}); which
 * servers exist, and what they run, is decided by whoever runs the workers, never by a batch.
 *
 * @param name the name batches use, {@code [A-Za-z0-9_-]{1,64}}
 * @param command for stdio: the program and its arguments; empty for HTTP
 * @param env for stdio: extra environment variables of the process (values may be secrets: masked in
 *     {@link #toString()})
 * @param url for HTTP: the MCP endpoint, e.g. {@code https://mcp.example.com/mcp}; null for stdio
 * @param headers for HTTP: extra request headers (values may be secrets: masked in {@link #toString()})
 * @param requestTimeout the longest one MCP request may take (a tool's own timeout still applies);
 *     default 5 minutes
 */
public record McpServerConfig(
        String name,
        List<String> command,
        Map<String, String> env,
        String url,
        Map<String, String> headers,
        Duration requestTimeout) {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    public McpServerConfig {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException(
                    "MCP server name must be 1-64 characters from [A-Za-z0-9_-], got '" + name + "'");
        }
        command = command == null ? List.of() : List.copyOf(command);
        env = env == null ? Map.of() : Map.copyOf(new TreeMap<>(env));
        headers = headers == null ? Map.of() : Map.copyOf(new TreeMap<>(headers));
        requestTimeout = requestTimeout == null ? Duration.ofMinutes(5) : requestTimeout;
        if (command.isEmpty() == (url == null)) {
            throw new IllegalArgumentException(
                    "MCP server '" + name + "' needs either a command (stdio) or a url (streamable HTTP), not "
                            + (url == null ? "neither" : "both"));
        }
        if (url != null) {
            String scheme = URI.create(url).getScheme();
            if (!"http".equals(scheme) && !"https".equals(scheme)) {
                throw new IllegalArgumentException(
                        "MCP server '" + name + "' url must be http:// or https://, got " + url);
            }
        }
        if (requestTimeout.isNegative() || requestTimeout.isZero()) {
            throw new IllegalArgumentException("MCP server '" + name + "' requestTimeout must be positive");
        }
    }

    /** A server started as a local process that speaks MCP over its standard input and output. */
    public static McpServerConfig stdio(String name, List<String> command, Map<String, String> env) {
        return new McpServerConfig(name, command, env, null, null, null);
    }

    /** A remote server speaking MCP's streamable HTTP transport. */
    public static McpServerConfig http(String name, String url, Map<String, String> headers) {
        return new McpServerConfig(name, null, null, url, headers, null);
    }

    public boolean isStdio() {
        return url == null;
    }

    /**
     * Parses the command-line form {@code NAME=URL} (streamable HTTP) or {@code NAME=PROGRAM ARG...}
     * (stdio; arguments split on spaces), e.g. {@code files=npx -y @modelcontextprotocol/server-filesystem /data}.
     */
    public static McpServerConfig parse(String spec) {
        int eq = spec == null ? -1 : spec.indexOf('=');
        if (eq < 1 || eq == spec.length() - 1) {
            throw new IllegalArgumentException(
                    "MCP server must be given as NAME=URL or NAME=COMMAND ARGS, got '" + spec + "'");
        }
        String name = spec.substring(0, eq).strip();
        String target = spec.substring(eq + 1).strip();
        if (target.startsWith("http://") || target.startsWith("https://")) {
            return http(name, target, null);
        }
        return stdio(name, List.of(target.split("\\s+")), null);
    }

    /**
     * Reads the usual {@code mcp.json} shape: {@code {"mcpServers": {"NAME": {"command": "...",
     * "args": [...], "env": {...}} | {"url": "...", "headers": {...}}}}}.
     */
    public static List<McpServerConfig> fromMcpJson(JsonNode root) {
        JsonNode servers = root.path("mcpServers");
        if (!servers.isObject()) {
            throw new IllegalArgumentException("an MCP configuration must be an object with an object 'mcpServers'");
        }
        List<McpServerConfig> configs = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = servers.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            JsonNode server = entry.getValue();
            if (server.hasNonNull("url")) {
                configs.add(http(entry.getKey(), server.get("url").asText(), strings(server.path("headers"))));
            } else {
                List<String> command = new ArrayList<>();
                command.add(server.path("command").asText(""));
                server.path("args").forEach(arg -> command.add(arg.asText()));
                if (command.get(0).isBlank()) {
                    throw new IllegalArgumentException(
                            "MCP server '" + entry.getKey() + "' has neither a 'command' nor a 'url'");
                }
                configs.add(stdio(entry.getKey(), command, strings(server.path("env"))));
            }
        }
        return configs;
    }

    private static Map<String, String> strings(JsonNode object) {
        Map<String, String> map = new LinkedHashMap<>();
        object.fields().forEachRemaining(e -> map.put(e.getKey(), e.getValue().asText()));
        return map;
    }

    @Override
    public String toString() {
        return "McpServerConfig[name=" + name
                + (isStdio()
                        ? ", command=" + command + ", env=" + env.keySet() + " (values masked)"
                        : ", url=" + url + ", headers=" + headers.keySet() + " (values masked)")
                + ", requestTimeout=" + requestTimeout + "]";
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof McpServerConfig o
                && name.equals(o.name)
                && command.equals(o.command)
                && env.equals(o.env)
                && Objects.equals(url, o.url)
                && headers.equals(o.headers)
                && requestTimeout.equals(o.requestTimeout);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, command, env, url, headers, requestTimeout);
    }
}
