package io.batchagent.tools;

import io.batchagent.events.ToolSpec;
import io.batchagent.tools.http.HostAllowlist;
import io.batchagent.tools.http.HttpTool;
import io.batchagent.tools.mcp.McpToolbox;
import java.net.URI;
import java.net.http.HttpClient;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Finds what runs a declared tool: the MCP server's tool when the spec names a server, an
 * {@link HttpTool} when it has a URL, else the tool of that name installed on the worker. Only the
 * spec of the call decides, and the spec is the batch's declaration: a call can reach nothing the
 * batch did not declare. Never blocks. Thread-safe.
 */
final class ToolResolver {

    /** What to run, or why nothing can. */
    record Resolution(Tool tool, String problem) {
        static Resolution of(Tool tool) {
            return new Resolution(tool, null);
        }

        static Resolution refused(String problem) {
            return new Resolution(null, problem);
        }
    }

    private final ToolRegistry registry;
    private final McpToolbox mcp;
    private final HttpClient http;
    private final HostAllowlist httpHosts;
    private final Map<String, HttpTool> httpTools = new ConcurrentHashMap<>();

    ToolResolver(ToolRegistry registry, McpToolbox mcp, HttpClient http, HostAllowlist httpHosts) {
        this.registry = registry;
        this.mcp = mcp;
        this.http = http;
        this.httpHosts = httpHosts;
    }

    Resolution resolve(ToolSpec spec) {
        String name = spec.getName();
        if (spec.getMcpServer() != null) {
            Optional<Tool> tool = mcp.tool(spec.getMcpServer(), name);
            return tool.map(Resolution::of)
                    .orElseGet(() -> Resolution.refused("tool '" + name + "' is declared on MCP server '"
                            + spec.getMcpServer() + "', which is not configured on this worker; configured: "
                            + (mcp.serverNames().isEmpty() ? "none" : String.join(", ", mcp.serverNames()))));
        }
        if (spec.getHttpUrl() != null) {
            URI url;
            try {
                url = URI.create(spec.getHttpUrl());
            } catch (IllegalArgumentException e) {
                return Resolution.refused("HTTP tool '" + name + "' has an invalid URL: " + e.getMessage());
            }
            if (!httpHosts.allows(url)) {
                return Resolution.refused("HTTP tool '" + name + "' may not call " + url.getHost()
                        + ": the tool workers allow HTTP tools to reach only: " + httpHosts);
            }
            return Resolution.of(
                    httpTools.computeIfAbsent(name + '\u0000' + url, k -> new HttpTool(name, url, http, httpHosts)));
        }
        return registry.find(name)
                .map(Resolution::of)
                .orElseGet(() -> Resolution.refused("no tool named '" + name
                        + "' is installed on this worker; installed: " + String.join(", ", registry.names())));
    }
}
