package io.batchagent.inference;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;
import java.util.Objects;

/**
 * Where an inference engine listens, and which kind of engine it is.
 *
 * <p>Accepted forms:
 * <ul>
 *   <li>{@code openai-compatible://host:port}, {@code sglang://host:port}, {@code vllm://host:port}:
 *       served over {@code http://host:port}; the kind is kept for engine-specific features
 *       (priority fields, cache flush, metrics names).
 *   <li>a plain {@code http://} or {@code https://} base URL, taken as OpenAI-compatible. A trailing
 *       {@code /v1} is dropped, since the client appends {@code /v1/chat/completions} itself.
 * </ul>
 * {@code sim://} is not accepted here: the CLI starts the simulator and passes its http URL.
 * Credentials in the URL are refused; an API key belongs in the worker configuration.
 *
 * @param kind the engine behind the URL
 * @param baseUri http(s) scheme, host, port and an optional path prefix, without a trailing slash
 */
public record EngineEndpoint(Kind kind, URI baseUri) {

    /** The engines the client knows how to talk to. */
    public enum Kind {
        OPENAI_COMPATIBLE("openai-compatible"),
        SGLANG("sglang"),
        VLLM("vllm");

        private final String scheme;

        Kind(String scheme) {
            this.scheme = scheme;
        }

        public String scheme() {
            return scheme;
        }
    }

    static final String ACCEPTED_FORMS = "openai-compatible://host:port, sglang://host:port, "
            + "vllm://host:port, or an http(s):// base URL";

    private static final String CHAT_COMPLETIONS_PATH = "/v1/chat/completions";

    public EngineEndpoint {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(baseUri, "baseUri");
    }

    /**
     * Parses an engine URL.
     *
     * @throws IllegalArgumentException naming the accepted forms, if {@code url} is not one of them
     */
    public static EngineEndpoint parse(String url) {
        if (url == null || url.isBlank()) {
            throw invalid(url, "it is empty");
        }
        URI uri;
        try {
            uri = new URI(url.trim());
        } catch (URISyntaxException e) {
            throw invalid(url, e.getMessage());
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (uri.getRawUserInfo() != null) {
            throw invalid(url, "it carries credentials; configure the API key instead");
        }
        if (scheme.equals("http") || scheme.equals("https")) {
            requireHost(url, uri);
            String path = uri.getRawPath() == null ? "" : uri.getRawPath();
            while (path.endsWith("/")) {
                path = path.substring(0, path.length() - 1);
            }
            if (path.endsWith("/v1")) {
                path = path.substring(0, path.length() - 3);
            }
            return new EngineEndpoint(Kind.OPENAI_COMPATIBLE, URI.create(scheme + "://" + uri.getRawAuthority() + path));
        }
        for (Kind kind : Kind.values()) {
            if (kind.scheme().equals(scheme)) {
                requireHost(url, uri);
                if (uri.getPort() < 0) {
                    throw invalid(url, "it has no port");
                }
                if (uri.getRawPath() != null && !uri.getRawPath().isEmpty() && !uri.getRawPath().equals("/")) {
                    throw invalid(url, "an engine URL takes no path");
                }
                return new EngineEndpoint(kind, URI.create("http://" + uri.getRawAuthority()));
            }
        }
        throw invalid(url, scheme.isEmpty() ? "it has no scheme" : "scheme '" + scheme + "' is not supported");
    }

    /** The absolute URL of the chat completions resource. */
    public String chatCompletionsUrl() {
        return baseUri + CHAT_COMPLETIONS_PATH;
    }

    /** The path of the chat completions resource relative to the host, including any base path. */
    String chatCompletionsPath() {
        String base = baseUri.getRawPath() == null ? "" : baseUri.getRawPath();
        return base + CHAT_COMPLETIONS_PATH;
    }

    private static void requireHost(String url, URI uri) {
        if (uri.getHost() == null || uri.getHost().isBlank()) {
            throw invalid(url, "it has no host");
        }
    }

    private static IllegalArgumentException invalid(String url, String why) {
        return new IllegalArgumentException("invalid engine URL '" + url + "' (" + why + "); expected "
                + ACCEPTED_FORMS);
    }
}
