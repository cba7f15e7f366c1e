package io.batchagent.tools.builtin;

import com.fasterxml.jackson.databind.JsonNode;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeMap;

/**
 * {@code web_search}: a real web search through a configured search API, by default SearXNG's JSON
 * API ({@link SearxngSearchProvider}); other providers plug in through {@link SearchProvider}.
 *
 * <p>Options: {@code web_search.url} (the service's base URL; with none, every call is refused),
 * {@code web_search.provider} (default {@value SearxngSearchProvider#NAME}), {@code web_search.api.key}
 * or, better, {@code web_search.api.key.env} naming the environment variable that holds it,
 * {@code web_search.timeout.ms} (default 10 s, never more than the call's deadline) and
 * {@code web_search.max.results} (default {@value #DEFAULT_RESULTS}, at most {@value #MAX_RESULTS}).
 * The key never appears in results, logs or {@link #toString()}. Thread-safe.
 */
public final class WebSearchTool implements Tool {

    public static final String NAME = "web_search";
    public static final int DEFAULT_RESULTS = 5;
    public static final int MAX_RESULTS = 20;

    private final HttpClient client;
    private volatile SearchProvider provider = new SearxngSearchProvider();
    private volatile URI url;
    private volatile String apiKey;
    private volatile Duration timeout = Duration.ofSeconds(10);
    private volatile int defaultResults = DEFAULT_RESULTS;

    /** Used by {@link java.util.ServiceLoader}: refuses every call until a URL is configured. */
    public WebSearchTool() {
        this(HttpClient.newBuilder()
                .followRedirects(HttpClient.Redirect.NORMAL)
                .connectTimeout(Duration.ofSeconds(5))
                .build());
    }

    WebSearchTool(HttpClient client) {
        this.client = client;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String description() {
        return "Searches the web and returns the top results: title, URL and a snippet of each.";
    }

    @Override
    public String parametersJson() {
        return "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"},"
                + "\"num_results\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":" + MAX_RESULTS + "}},"
                + "\"required\":[\"query\"]}";
    }

    @Override
    public void configure(Map<String, String> options) {
        if (options.containsKey("provider")) {
            provider = provider(options.get("provider").strip());
        }
        if (options.containsKey("url")) {
            String value = options.get("url").strip();
            URI parsed = URI.create(value);
            if (!"http".equals(parsed.getScheme()) && !"https".equals(parsed.getScheme())) {
                throw new IllegalArgumentException("url must be an http(s) URL, got " + value);
            }
            url = parsed;
        }
        String key = Options.secret(options, "api.key");
        if (key != null) {
            apiKey = key;
        }
        timeout = Options.millis(options, "timeout.ms", timeout);
        int results = Options.positiveInt(options, "max.results", defaultResults);
        if (results > MAX_RESULTS) {
            throw new IllegalArgumentException("max.results must be at most " + MAX_RESULTS + ", got " + results);
        }
        defaultResults = results;
    }

    @Override
    public String execute(JsonNode arguments, ToolContext context) throws IOException, InterruptedException {
        URI endpoint = url;
        if (endpoint == null) {
            throw new IllegalStateException(
                    "web_search has no search service configured; set the tool option web_search.url");
        }
        String query = Arguments.requiredText(arguments, NAME, "query").strip();
        int count = Arguments.optionalInt(arguments, NAME, "num_results", defaultResults, 1, MAX_RESULTS);
        Duration left = context.remaining();
        Duration limit = left.compareTo(timeout) < 0 ? (left.isZero() ? Duration.ofMillis(1) : left) : timeout;
        List<SearchProvider.Result> results;
        try {
            results = provider.search(client, new SearchProvider.Endpoint(endpoint, apiKey, limit), query, count);
        } catch (IOException e) {
            throw new IOException("web_search (" + provider.name() + ") failed: " + e.getMessage(), e);
        }
        StringBuilder out =
                new StringBuilder("Search results for \"").append(query).append("\"\n");
        if (results.isEmpty()) {
            return out.append("\nNo results.\n").toString();
        }
        for (int i = 0; i < results.size(); i++) {
            SearchProvider.Result result = results.get(i);
            out.append('\n')
                    .append(i + 1)
                    .append(". ")
                    .append(result.title().strip())
                    .append('\n')
                    .append("   ")
                    .append(result.url())
                    .append('\n');
            if (!result.snippet().isBlank()) {
                out.append("   ")
                        .append(result.snippet().strip().replaceAll("\\s+", " "))
                        .append('\n');
            }
        }
        return out.toString();
    }

    @Override
    public String toString() {
        return "WebSearchTool[provider=" + provider.name() + ", url=" + url + ", apiKey="
                + (apiKey == null ? "none" : "***") + "]";
    }

    private static SearchProvider provider(String name) {
        Map<String, SearchProvider> found = new TreeMap<>();
        found.put(SearxngSearchProvider.NAME, new SearxngSearchProvider());
        ServiceLoader.load(SearchProvider.class, Thread.currentThread().getContextClassLoader())
                .forEach(p -> found.putIfAbsent(p.name(), p));
        SearchProvider provider = found.get(name);
        if (provider == null) {
            throw new IllegalArgumentException(
                    "provider '" + name + "' is not installed; installed: " + String.join(", ", found.keySet()));
        }
        return provider;
    }
}
