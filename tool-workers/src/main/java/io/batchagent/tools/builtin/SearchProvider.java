package io.batchagent.tools.builtin;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.List;

/**
 * A web search API that {@code web_search} speaks. Providers are found by {@link #name()} through
 * {@link java.util.ServiceLoader} (list the class in
 * {@code META-INF/services/io.batchagent.tools.builtin.SearchProvider}), and picked with the tool
 * option {@code web_search.provider}; the built-in one is {@code searxng}. Implementations are
 * stateless and thread-safe.
 */
public interface SearchProvider {

    /** One search hit. */
    record Result(String title, String url, String snippet) {}

    /** Where and how to ask. The API key is a secret: never log it, never put it in a result. */
    record Endpoint(URI url, String apiKey, Duration timeout) {
        @Override
        public String toString() {
            return "Endpoint[url=" + url + ", apiKey=" + (apiKey == null ? "none" : "***") + ", timeout=" + timeout
                    + "]";
        }
    }

    /** The value of {@code web_search.provider} that picks this provider. */
    String name();

    /**
     * Runs one query.
     *
     * @param count the most results wanted
     * @throws IOException for a transport failure or an answer the provider does not understand
     */
    List<Result> search(HttpClient client, Endpoint endpoint, String query, int count)
            throws IOException, InterruptedException;
}
