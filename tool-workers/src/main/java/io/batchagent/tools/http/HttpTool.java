package io.batchagent.tools.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Objects;

/**
 * A tool a batch declares with a URL ({@code ToolSpec.httpUrl}): each call POSTs its JSON arguments
 * there ({@code Content-Type: application/json}), and a 2xx response's body is the output. Any other
 * status, a redirect (not followed), a host outside the worker's allowlist or a timeout is an error
 * for the model. At most {@value #MAX_BYTES} bytes of a response are read; the worker then caps the
 * output at the spec's {@code maxOutputChars}. The call's deadline bounds the request. Thread-safe.
 */
public final class HttpTool implements Tool {

    public static final int MAX_BYTES = 1 << 20;

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String name;
    private final URI url;
    private final HttpClient client;
    private final HostAllowlist allowlist;

    public HttpTool(String name, URI url, HttpClient client, HostAllowlist allowlist) {
        this.name = Objects.requireNonNull(name, "name");
        this.url = Objects.requireNonNull(url, "url");
        this.client = Objects.requireNonNull(client, "client");
        this.allowlist = Objects.requireNonNull(allowlist, "allowlist");
    }

    /** The client HTTP tools share: HTTP/1.1 and 2, no redirects, 5 s to connect. */
    public static HttpClient defaultClient() {
        return HttpClient.newBuilder()
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofSeconds(5))
                .build();
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String execute(JsonNode arguments, ToolContext context) throws IOException, InterruptedException {
        if (!allowlist.allows(url)) {
            throw new IllegalStateException("HTTP tool '" + name + "' may not call " + url.getHost()
                    + ": the tool workers allow HTTP tools to reach only: " + allowlist);
        }
        Duration timeout = context.remaining().isZero() ? Duration.ofMillis(1) : context.remaining();
        HttpRequest request = HttpRequest.newBuilder(url)
                .timeout(timeout)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/plain;q=0.9, */*;q=0.1")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(arguments)))
                .build();
        HttpResponse<java.io.InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
        HttpBodies.Capped body = HttpBodies.read(response.body(), MAX_BYTES);
        String text = new String(body.bytes(), HttpBodies.charset(response.headers()));
        if (response.statusCode() / 100 != 2) {
            String excerpt = text.length() > 500 ? text.substring(0, 500) + "..." : text;
            throw new IOException("HTTP tool '" + name + "' got HTTP " + response.statusCode() + " from "
                    + url.getHost() + (excerpt.isBlank() ? "" : ": " + excerpt));
        }
        return body.cut() ? text + "\n[response cut at " + MAX_BYTES + " bytes]" : text;
    }
}
