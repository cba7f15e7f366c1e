package io.batchagent.tools.builtin;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import io.batchagent.tools.http.HostAllowlist;
import io.batchagent.tools.http.HttpBodies;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.Charset;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import org.jsoup.Jsoup;
import org.jsoup.nodes.Document;
import org.jsoup.nodes.Element;
import org.jsoup.nodes.Node;
import org.jsoup.nodes.TextNode;
import org.jsoup.select.NodeVisitor;

/**
 * {@code http_fetch}: GETs a web page and returns it as readable text.
 *
 * <p>Safe by default:
 * <ul>
 *   <li>Only hosts on the allowlist (option {@code http_fetch.allowed.hosts}: comma-separated names,
 *       {@code *.example.com} for subdomains, {@code *} for any) are fetched; with none configured
 *       every call is refused. Only {@code http} and {@code https}.
 *   <li>Redirects are followed by hand, at most {@value #MAX_REDIRECTS}, and every hop must be on the
 *       allowlist too.
 *   <li>At most {@code http_fetch.max.bytes} bytes of a body are read (default
 *       {@value #DEFAULT_MAX_BYTES}); the rest is never downloaded, and the output says it was cut.
 *   <li>Each request has {@code http_fetch.timeout.ms} (default 10 s), and never more than the call's
 *       own deadline.
 *   <li>HTML is parsed with jsoup and reduced to its readable text (title, headings, paragraphs, list
 *       items; scripts, styles and forms dropped). Other {@code text/*}, JSON and XML bodies are
 *       returned as they are; anything else is refused.
 * </ul>
 * Thread-safe.
 */
public final class HttpFetchTool implements Tool {

    public static final String NAME = "http_fetch";
    public static final int DEFAULT_MAX_BYTES = 512 * 1024;
    public static final int MAX_REDIRECTS = 5;

    private static final Set<String> BLOCKS = Set.of(
            "p",
            "div",
            "section",
            "article",
            "main",
            "header",
            "footer",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "li",
            "ul",
            "ol",
            "tr",
            "table",
            "blockquote",
            "pre",
            "br",
            "hr",
            "dt",
            "dd",
            "figcaption",
            "aside",
            "nav");

    private final HttpClient client;
    private volatile HostAllowlist allowlist = HostAllowlist.of(Set.of());
    private volatile int maxBytes = DEFAULT_MAX_BYTES;
    private volatile Duration timeout = Duration.ofSeconds(10);

    /** Used by {@link java.util.ServiceLoader}: no host allowed until configured. */
    public HttpFetchTool() {
        this(HttpClient.newBuilder()
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofSeconds(5))
                .build());
    }

    HttpFetchTool(HttpClient client) {
        this.client = client;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String description() {
        return "Fetches a web page (http or https) from an allowed host and returns its readable text.";
    }

    @Override
    public String parametersJson() {
        return "{\"type\":\"object\",\"properties\":{\"url\":{\"type\":\"string\",\"description\":\"the page's http(s) URL\"}},"
                + "\"required\":[\"url\"]}";
    }

    /** Options: {@code allowed.hosts}, {@code max.bytes}, {@code timeout.ms}. */
    @Override
    public void configure(Map<String, String> options) {
        if (options.containsKey("allowed.hosts")) {
            allowlist = HostAllowlist.parse(options.get("allowed.hosts"));
        }
        maxBytes = Options.positiveInt(options, "max.bytes", maxBytes);
        timeout = Options.millis(options, "timeout.ms", timeout);
    }

    @Override
    public String execute(JsonNode arguments, ToolContext context) throws IOException, InterruptedException {
        URI url = parse(Arguments.requiredText(arguments, NAME, "url").strip());
        for (int hop = 0; ; hop++) {
            check(url);
            Duration left = context.remaining();
            HttpRequest request = HttpRequest.newBuilder(url)
                    .timeout(left.compareTo(timeout) < 0 ? (left.isZero() ? Duration.ofMillis(1) : left) : timeout)
                    .header("Accept", "text/html, text/plain;q=0.9, application/json;q=0.8, */*;q=0.1")
                    .header("User-Agent", "batchagent-http-fetch/0.1")
                    .GET()
                    .build();
            HttpResponse<InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
            int status = response.statusCode();
            if (status / 100 == 3 && response.headers().firstValue("location").isPresent()) {
                response.body().close();
                if (hop >= MAX_REDIRECTS) {
                    throw new IOException("http_fetch: more than " + MAX_REDIRECTS + " redirects from " + url);
                }
                url = url.resolve(response.headers().firstValue("location").get());
                continue;
            }
            return render(url, response);
        }
    }

    private String render(URI url, HttpResponse<InputStream> response) throws IOException {
        String type = HttpBodies.mediaType(response.headers());
        boolean html = type.equals("text/html") || type.equals("application/xhtml+xml");
        boolean text = type.isEmpty()
                || type.startsWith("text/")
                || type.endsWith("json")
                || type.endsWith("+xml")
                || type.equals("application/xml");
        if (!html && !text) {
            response.body().close();
            throw new IllegalArgumentException("http_fetch: " + url + " is " + type + ", not text or HTML");
        }
        HttpBodies.Capped body = HttpBodies.read(response.body(), maxBytes);
        Charset charset = HttpBodies.charset(response.headers());
        StringBuilder out = new StringBuilder();
        out.append("URL: ")
                .append(url)
                .append('\n')
                .append("Status: ")
                .append(response.statusCode())
                .append('\n');
        if (html) {
            Document document = Jsoup.parse(new String(body.bytes(), charset), url.toString());
            if (!document.title().isBlank()) {
                out.append("Title: ").append(document.title().strip()).append('\n');
            }
            out.append('\n').append(readableText(document));
        } else {
            out.append('\n').append(new String(body.bytes(), charset));
        }
        if (body.cut()) {
            out.append("\n[http_fetch: read the first ")
                    .append(maxBytes)
                    .append(" bytes of the body; the rest was cut]");
        }
        return out.toString();
    }

    /** The text a reader sees: block elements on their own lines, whitespace collapsed, no scripts or styles. */
    static String readableText(Document document) {
        document.select("script, style, noscript, template, svg, canvas, iframe, form, button, input, select, head")
                .remove();
        Element body = document.body() == null ? document : document.body();
        StringBuilder out = new StringBuilder();
        body.traverse(new NodeVisitor() {
            @Override
            public void head(Node node, int depth) {
                if (node instanceof TextNode text) {
                    String content = text.text();
                    if (!content.isBlank()) {
                        if (out.length() > 0
                                && !Character.isWhitespace(out.charAt(out.length() - 1))
                                && Character.isWhitespace(content.charAt(0))) {
                            out.append(' ');
                        }
                        out.append(content.strip());
                        if (Character.isWhitespace(content.charAt(content.length() - 1))) {
                            out.append(' ');
                        }
                    }
                } else if (node instanceof Element element && BLOCKS.contains(element.normalName())) {
                    newline(out);
                    if (element.normalName().equals("li")) {
                        out.append("- ");
                    }
                }
            }

            @Override
            public void tail(Node node, int depth) {
                if (node instanceof Element element && BLOCKS.contains(element.normalName())) {
                    newline(out);
                }
            }
        });
        return out.toString()
                .replaceAll("[ \\t]+\\n", "\n")
                .replaceAll("\\n{3,}", "\n\n")
                .strip();
    }

    private static void newline(StringBuilder out) {
        int end = out.length();
        while (end > 0 && out.charAt(end - 1) == ' ') {
            end--;
        }
        out.setLength(end);
        if (out.length() > 0 && out.charAt(out.length() - 1) != '\n') {
            out.append('\n');
        }
    }

    private void check(URI url) {
        if (!allowlist.allows(url)) {
            throw new IllegalArgumentException("http_fetch refuses " + url + ": "
                    + (allowlist.isEmpty()
                            ? "no host is allowed (set the tool option http_fetch.allowed.hosts)"
                            : "only http(s) URLs on these hosts are allowed: " + allowlist));
        }
    }

    private static URI parse(String text) {
        try {
            URI url = new URI(text);
            if (!url.isAbsolute()) {
                throw new IllegalArgumentException("http_fetch needs an absolute http(s) URL, got '" + text + "'");
            }
            return url;
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("http_fetch: '" + text + "' is not a valid URL: " + e.getReason(), e);
        }
    }
}
