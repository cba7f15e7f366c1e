package io.batchagent.tools.it;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.json.jackson2.JacksonMcpJsonMapper;
import io.modelcontextprotocol.json.schema.JsonSchemaValidator;
import io.modelcontextprotocol.server.McpServer;
import io.modelcontextprotocol.server.McpSyncServer;
import io.modelcontextprotocol.server.transport.StdioServerTransportProvider;
import io.modelcontextprotocol.spec.McpSchema;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;

/**
 * A small MCP server speaking stdio, built on the official SDK, for tests: {@code word_count} and
 * {@code shout}. Started as a process by the tool worker under test; runs until killed.
 */
public final class TextToolsMcpServer {

    private TextToolsMcpServer() {}

    public static void main(String[] args) throws InterruptedException {
        McpJsonMapper mapper = new JacksonMcpJsonMapper(new ObjectMapper());
        String textSchema =
                "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},\"required\":[\"text\"]}";
        McpSyncServer server = McpServer.sync(new StdioServerTransportProvider(mapper))
                .serverInfo("text-tools", "1.0.0")
                .jsonMapper(mapper)
                .jsonSchemaValidator((schema, content) -> JsonSchemaValidator.ValidationResponse.asValid(null))
                .capabilities(
                        McpSchema.ServerCapabilities.builder().tools(false).build())
                .toolCall(
                        McpSchema.Tool.builder()
                                .name("word_count")
                                .description("Counts the words of a text.")
                                .inputSchema(mapper, textSchema)
                                .build(),
                        (exchange, request) -> {
                            String text = String.valueOf(request.arguments().get("text"));
                            int words = text.isBlank() ? 0 : text.strip().split("\\s+").length;
                            return McpSchema.CallToolResult.builder()
                                    .addTextContent(words + " words")
                                    .build();
                        })
                .toolCall(
                        McpSchema.Tool.builder()
                                .name("shout")
                                .description("Returns the text in capitals.")
                                .inputSchema(mapper, textSchema)
                                .build(),
                        (exchange, request) -> McpSchema.CallToolResult.builder()
                                .addTextContent(
                                        String.valueOf(request.arguments().get("text"))
                                                .toUpperCase(Locale.ROOT))
                                .build())
                .build();
        new CountDownLatch(1).await(); // serves until the client ends the process
        server.close();
    }
}
