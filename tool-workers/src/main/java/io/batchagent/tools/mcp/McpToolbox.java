package io.batchagent.tools.mcp;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.ToolSpec;
import io.batchagent.schemas.CallHash;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.client.transport.ServerParameters;
import io.modelcontextprotocol.client.transport.StdioClientTransport;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.json.jackson2.JacksonMcpJsonMapper;
import io.modelcontextprotocol.json.schema.JsonSchemaValidator;
import io.modelcontextprotocol.spec.McpClientTransport;
import io.modelcontextprotocol.spec.McpSchema;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Executor;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The MCP servers of one tool worker, through the official MCP Java SDK: connects to each (a stdio
 * process it starts, or a streamable HTTP endpoint), lists its tools, and calls them.
 *
 * <ul>
 *   <li>Connecting happens on a tool thread (or in the background after {@link #connectAll}), never
 *       on the consumer's poll thread. A server that cannot be reached answers its calls with an
 *       error and is tried again, at most every {@value #RETRY_MS} ms.
 *   <li>Only tools the batch declares reach a worker, and a declared tool names its server
 *       ({@code ToolSpec.mcpServer}); a tool the server does not list is refused with the names it
 *       does list.
 *   <li>A server's {@code isError} result and anything the SDK throws become the call's ERROR result.
 *       Text content is the output; other content is named, not inlined.
 * </ul>
 *
 * <p>Thread-safe: calls to one server run concurrently over its one session.
 */
public final class McpToolbox implements AutoCloseable {

    static final long RETRY_MS = 2_000;

    private static final Logger LOGGER = LoggerFactory.getLogger(McpToolbox.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final McpJsonMapper MAPPER = new JacksonMcpJsonMapper(JSON);
    /** The SDK would validate structured output with its own networknt 2.x; the project has 1.5.9. */
    private static final JsonSchemaValidator NO_OUTPUT_VALIDATION =
            (schema, content) -> JsonSchemaValidator.ValidationResponse.asValid(null);

    private final Map<String, Server> servers;

    private McpToolbox(List<McpServerConfig> configs) {
        Map<String, Server> byName = new LinkedHashMap<>();
        for (McpServerConfig config : configs) {
            if (byName.putIfAbsent(config.name(), new Server(config)) != null) {
                throw new IllegalArgumentException("two MCP servers are named '" + config.name() + "'");
            }
        }
        this.servers = Collections.unmodifiableMap(byName);
    }

    /** A toolbox over {@code configs}; connects to nothing yet. */
    public static McpToolbox of(List<McpServerConfig> configs) {
        return new McpToolbox(configs);
    }

    /** Starts connecting to every server on {@code executor}, so that first calls need not wait. */
    public McpToolbox connectAll(Executor executor) {
        servers.values()
                .forEach(server -> executor.execute(() -> {
                    try {
                        server.session();
                    } catch (RuntimeException e) {
                        // already logged; the server is tried again on its next call
                    }
                }));
        return this;
    }

    /** The configured server names. */
    public List<String> serverNames() {
        return List.copyOf(servers.keySet());
    }

    /**
     * The tools {@code server} lists, connecting if needed. Blocking.
     *
     * @throws IllegalArgumentException if no server has that name
     * @throws IllegalStateException if the server cannot be reached
     */
    public List<McpSchema.Tool> listTools(String server) {
        return List.copyOf(server(server).session().tools.values());
    }

    /**
     * The tools of {@code server} as declarations a batch can use (name, description, parameters,
     * {@code mcpServer}), for filling in a batch's tools. Blocking.
     */
    public List<ToolSpec> describe(String server) {
        List<ToolSpec> specs = new ArrayList<>();
        for (McpSchema.Tool tool : listTools(server)) {
            String parameters;
            try {
                parameters = CallHash.canonicalJson(JSON.writeValueAsString(
                        tool.inputSchema() == null ? Map.of("type", "object") : tool.inputSchema()));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("MCP tool '" + tool.name() + "' has an unreadable input schema", e);
            }
            specs.add(ToolSpec.newBuilder()
                    .setName(tool.name())
                    .setDescription(tool.description() == null ? "" : tool.description())
                    .setParametersJson(parameters)
                    .setMcpServer(server)
                    .build());
        }
        return specs;
    }

    /**
     * A {@link Tool} that calls {@code toolName} on {@code server}; it connects and checks the name
     * when it runs. Empty if no server has that name. Never blocks.
     */
    public Optional<Tool> tool(String server, String toolName) {
        Server found = servers.get(server);
        return found == null ? Optional.empty() : Optional.of(new McpTool(found, toolName));
    }

    @Override
    public void close() {
        servers.values().forEach(Server::close);
    }

    private Server server(String name) {
        Server server = servers.get(name);
        if (server == null) {
            throw new IllegalArgumentException(
                    "no MCP server named '" + name + "' is configured on this worker; configured: "
                            + (servers.isEmpty() ? "none" : String.join(", ", servers.keySet())));
        }
        return server;
    }

    private record Session(McpSyncClient client, Map<String, McpSchema.Tool> tools) {}

    private static final class Server {
        final McpServerConfig config;
        private Session session;
        private long retryAfter;
        private String lastFailure;

        Server(McpServerConfig config) {
            this.config = config;
        }

        synchronized Session session() {
            if (session != null) {
                return session;
            }
            long now = System.currentTimeMillis();
            if (now < retryAfter) {
                throw new IllegalStateException("MCP server '" + config.name() + "' is not connected: " + lastFailure);
            }
            McpSyncClient client = null;
            try {
                client = McpClient.sync(transport(config))
                        .clientInfo(new McpSchema.Implementation("batchagent-tool-worker", "0.1.0"))
                        .requestTimeout(config.requestTimeout())
                        .initializationTimeout(Duration.ofSeconds(30))
                        .jsonSchemaValidator(NO_OUTPUT_VALIDATION)
                        .build();
                client.initialize();
                Map<String, McpSchema.Tool> tools = new TreeMap<>();
                String cursor = null;
                do {
                    McpSchema.ListToolsResult page = cursor == null ? client.listTools() : client.listTools(cursor);
                    page.tools().forEach(tool -> tools.put(tool.name(), tool));
                    cursor = page.nextCursor();
                } while (cursor != null && !cursor.isEmpty());
                session = new Session(client, Collections.unmodifiableMap(tools));
                LOGGER.info("connected to MCP server {}: tools={}", config.name(), tools.keySet());
                return session;
            } catch (RuntimeException e) {
                if (client != null) {
                    closeQuietly(client);
                }
                retryAfter = now + RETRY_MS;
                lastFailure = e.toString();
                LOGGER.warn(
                        "cannot connect to MCP server {}; its tools answer errors until it can be reached: {}",
                        config.name(),
                        e.toString());
                throw new IllegalStateException(
                        "MCP server '" + config.name() + "' is not connected: " + e.getMessage(), e);
            }
        }

        /** Drops a session whose transport failed, so that the next call reconnects. */
        synchronized void forget(Session broken) {
            if (session == broken) {
                session = null;
                closeQuietly(broken.client());
            }
        }

        synchronized void close() {
            if (session != null) {
                closeQuietly(session.client());
                session = null;
            }
            retryAfter = Long.MAX_VALUE;
            lastFailure = "the worker is closing";
        }

        private static void closeQuietly(McpSyncClient client) {
            try {
                client.closeGracefully();
            } catch (RuntimeException e) {
                client.close();
            }
        }
    }

    private static McpClientTransport transport(McpServerConfig config) {
        if (config.isStdio()) {
            ServerParameters parameters = ServerParameters.builder(
                            config.command().get(0))
                    .args(config.command().subList(1, config.command().size()))
                    .env(config.env())
                    .build();
            StdioClientTransport transport = new StdioClientTransport(parameters, MAPPER);
            transport.setStdErrorHandler(line -> LOGGER.debug("MCP server {} stderr: {}", config.name(), line));
            return transport;
        }
        URI uri = URI.create(config.url());
        String base = uri.getScheme() + "://" + uri.getRawAuthority();
        String endpoint = (uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath())
                + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
        return HttpClientStreamableHttpTransport.builder(base)
                .endpoint(endpoint)
                .jsonMapper(MAPPER)
                .httpRequestCustomizer((request, method, target, body, context) ->
                        config.headers().forEach(request::setHeader))
                .build();
    }

    /** One MCP tool, as the worker runs it. */
    private static final class McpTool implements Tool {
        private final Server server;
        private final String name;

        McpTool(Server server, String name) {
            this.server = server;
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public String execute(JsonNode arguments, ToolContext context) {
            Session session = server.session();
            if (!session.tools().containsKey(name)) {
                throw new IllegalArgumentException("MCP server '" + server.config.name() + "' offers no tool '" + name
                        + "'; it offers: " + String.join(", ", session.tools().keySet()));
            }
            Map<String, Object> args = JSON.convertValue(arguments, new TypeReference<Map<String, Object>>() {});
            McpSchema.CallToolResult result;
            try {
                result = session.client().callTool(new McpSchema.CallToolRequest(name, args));
            } catch (RuntimeException e) {
                if (!Thread.currentThread().isInterrupted()) {
                    server.forget(session); // a broken transport is reconnected on the next call
                }
                throw e;
            }
            String text = text(result);
            if (Boolean.TRUE.equals(result.isError())) {
                throw new McpToolException("MCP tool '" + name + "' reported an error: " + text);
            }
            return text;
        }

        private static String text(McpSchema.CallToolResult result) {
            List<String> parts = new ArrayList<>();
            if (result.content() != null) {
                for (McpSchema.Content content : result.content()) {
                    if (content instanceof McpSchema.TextContent text) {
                        parts.add(text.text());
                    } else if (content instanceof McpSchema.EmbeddedResource resource
                            && resource.resource() instanceof McpSchema.TextResourceContents contents) {
                        parts.add(contents.text());
                    } else {
                        parts.add("[" + content.type() + " content omitted]");
                    }
                }
            }
            if (parts.isEmpty() && result.structuredContent() != null) {
                try {
                    return JSON.writeValueAsString(result.structuredContent());
                } catch (JsonProcessingException e) {
                    return String.valueOf(result.structuredContent());
                }
            }
            return parts.stream().collect(Collectors.joining("\n"));
        }
    }

    /** The server answered the call with {@code isError}. */
    public static final class McpToolException extends RuntimeException {
        public McpToolException(String message) {
            super(message);
        }
    }
}
