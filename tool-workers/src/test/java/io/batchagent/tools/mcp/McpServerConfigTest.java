package io.batchagent.tools.mcp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class McpServerConfigTest {

    @Test
    void shouldParseTheCommandLineFormForBothTransports() {
        McpServerConfig stdio = McpServerConfig.parse("files=npx -y @modelcontextprotocol/server-filesystem /data");
        McpServerConfig http = McpServerConfig.parse("remote=https://mcp.example.com/mcp");

        assertThat(stdio.isStdio()).isTrue();
        assertThat(stdio.command()).containsExactly("npx", "-y", "@modelcontextprotocol/server-filesystem", "/data");
        assertThat(http.isStdio()).isFalse();
        assertThat(http.url()).isEqualTo("https://mcp.example.com/mcp");
        assertThatThrownBy(() -> McpServerConfig.parse("no-target="))
                .hasMessageContaining("NAME=URL or NAME=COMMAND ARGS");
        assertThatThrownBy(() -> McpServerConfig.parse("bad name=x")).hasMessageContaining("MCP server name must be");
    }

    @Test
    void shouldReadTheUsualMcpJsonAndMaskSecretValues() throws Exception {
        List<McpServerConfig> servers = McpServerConfig.fromMcpJson(new ObjectMapper().readTree("""
                {"mcpServers": {
                   "github": {"command": "github-mcp", "args": ["stdio"], "env": {"GITHUB_TOKEN": "ghp_secret"}},
                   "search": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer sk-secret"}}}}"""));

        assertThat(servers).extracting(McpServerConfig::name).containsExactly("github", "search");
        assertThat(servers.get(0).env()).isEqualTo(Map.of("GITHUB_TOKEN", "ghp_secret"));
        assertThat(servers.toString())
                .doesNotContain("ghp_secret")
                .doesNotContain("sk-secret")
                .contains("GITHUB_TOKEN")
                .contains("Authorization");
    }
}
