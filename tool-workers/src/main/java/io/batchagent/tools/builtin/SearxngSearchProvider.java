package io.batchagent.tools.builtin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.tools.http.HttpBodies;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * SearXNG's search API: {@code GET <url>/search?q=<query>&format=json} (the instance must have the
 * {@code json} format enabled in its {@code search.formats}), answered with
 * {@code {"query": ..., "results": [{"title", "url", "content", ...}], ...}}. SearXNG has no API key
 * of its own; when one is configured it is sent as {@code Authorization: Bearer <key>}, which is what
 * the usual authenticating proxies in front of an instance expect.
 */
public final class SearxngSearchProvider implements SearchProvider {

    public static final String NAME = "searxng";
    static final int MAX_BYTES = 2 * 1024 * 1024;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<Result> search(HttpClient client, Endpoint endpoint, String query, int count)
            throws IOException, InterruptedException {
        String base = endpoint.url().toString().replaceAll("/+$", "");
        URI uri = URI.create(base + "/search?q=" + URLEncoder.encode(query, StandardCharsets.UTF_8) + "&format=json");
        HttpRequest.Builder request = HttpRequest.newBuilder(uri)
                .timeout(endpoint.timeout())
                .header("Accept", "application/json")
                .GET();
        if (endpoint.apiKey() != null && !endpoint.apiKey().isBlank()) {
            request.header("Authorization", "Bearer " + endpoint.apiKey());
        }
        HttpResponse<InputStream> response = client.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
        HttpBodies.Capped body = HttpBodies.read(response.body(), MAX_BYTES);
        if (response.statusCode() != 200) {
            throw new IOException("the search service answered HTTP " + response.statusCode()
                    + (response.statusCode() == 403 ? " (is the json format enabled on the SearXNG instance?)" : ""));
        }
        if (body.cut()) {
            throw new IOException("the search service answered more than " + MAX_BYTES + " bytes");
        }
        JsonNode root;
        try {
            root = JSON.readTree(body.bytes());
        } catch (IOException e) {
            throw new IOException("the search service did not answer JSON: " + e.getMessage(), e);
        }
        JsonNode results = root == null ? null : root.get("results");
        if (results == null || !results.isArray()) {
            throw new IOException("the search service's answer has no 'results' array");
        }
        List<Result> found = new ArrayList<>();
        for (JsonNode hit : results) {
            if (found.size() >= count) {
                break;
            }
            found.add(new Result(
                    hit.path("title").asText(""),
                    hit.path("url").asText(""),
                    hit.path("content").asText("")));
        }
        return found;
    }
}
