package io.batchagent.inference;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Where an inference engine listens, and which kind of engine it is.
 *
 * <p>Accepted forms:
 * <ul>
 *   <li>{@code sglang://host:port}, {@code vllm://host:port}, {@code dynamo://host:port},
 *       {@code openai-compatible://host:port}: served over {@code http://host:port}; the kind selects the
 *       request dialect (priority field and polarity, {@code nvext}, cache flush, metrics names).
 *   <li>{@code openai://}: the OpenAI API at {@code https://api.openai.com}.
 *   <li>{@code anthropic://}: the Anthropic Messages API at {@code https://api.anthropic.com}.
 *   <li>{@code bedrock://region}, e.g. {@code bedrock://us-east-1}: Amazon Bedrock's Converse API in
 *       that region, at {@code https://bedrock-runtime.<region>.amazonaws.com}.
 *   <li>a plain {@code http://} or {@code https://} base URL, taken as OpenAI-compatible. A trailing
 *       {@code /v1} is dropped, since the client appends {@code /v1/chat/completions} itself.
 * </ul>
 * {@code sim://} is not accepted here: the CLI starts the simulator and passes its http URL (or
 * {@code sglang://127.0.0.1:<port>} to speak SGLang's dialect to it). Credentials in the URL are
 * refused; an API key belongs in the worker configuration. {@link #withBaseUri(URI)} points an API kind
 * at another base URL (a proxy, a regional endpoint, a local test server).
 *
 * @param kind the engine behind the URL
 * @param baseUri http(s) scheme, host, port and an optional path prefix, without a trailing slash
 * @param region the AWS region for {@link Kind#BEDROCK}; null for every other kind
 */
public record EngineEndpoint(Kind kind, URI baseUri, String region) {

    /** The engines the clients know how to talk to. */
    public enum Kind {
        OPENAI_COMPATIBLE("openai-compatible"),
        SGLANG("sglang"),
        VLLM("vllm"),
        DYNAMO("dynamo"),
        OPENAI("openai"),
        ANTHROPIC("anthropic"),
        BEDROCK("bedrock");

        private final String scheme;

        Kind(String scheme) {
            this.scheme = scheme;
        }

        public String scheme() {
            return scheme;
        }

        /** True for the engines served over the OpenAI chat completions wire format. */
        public boolean speaksChatCompletions() {
            return this != ANTHROPIC && this != BEDROCK;
        }
    }

    static final String ACCEPTED_FORMS = "sglang://host:port, vllm://host:port, dynamo://host:port, "
            + "openai-compatible://host:port, openai://, anthropic://, bedrock://region, or an http(s):// base URL";

    static final URI OPENAI_API = URI.create("https://api.openai.com");
    static final URI ANTHROPIC_API = URI.create("https://api.anthropic.com");
    private static final Pattern REGION = Pattern.compile("[a-z]{2}(-[a-z]+)+-\\d+");
    private static final String CHAT_COMPLETIONS_PATH = "/v1/chat/completions";

    public EngineEndpoint {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(baseUri, "baseUri");
        if ((kind == Kind.BEDROCK) != (region != null)) {
            throw new IllegalArgumentException("a region is required for bedrock and only for bedrock");
        }
    }

    /** An endpoint of a kind that takes no region. */
    public EngineEndpoint(Kind kind, URI baseUri) {
        this(kind, baseUri, null);
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
        String text = url.trim();
        String lower = text.toLowerCase(Locale.ROOT);
        // "openai://" and "anthropic://" have no authority, which java.net.URI refuses.
        if (lower.equals("openai://") || lower.equals("openai:")) {
            return new EngineEndpoint(Kind.OPENAI, OPENAI_API);
        }
        if (lower.equals("anthropic://") || lower.equals("anthropic:")) {
            return new EngineEndpoint(Kind.ANTHROPIC, ANTHROPIC_API);
        }
        URI uri;
        try {
            uri = new URI(text);
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
            return new EngineEndpoint(
                    Kind.OPENAI_COMPATIBLE, URI.create(scheme + "://" + uri.getRawAuthority() + path));
        }
        if (scheme.equals(Kind.BEDROCK.scheme())) {
            String region = uri.getHost() == null ? uri.getRawAuthority() : uri.getHost();
            if (region == null || !REGION.matcher(region).matches()) {
                throw invalid(url, "bedrock:// needs an AWS region, e.g. bedrock://us-east-1");
            }
            return new EngineEndpoint(
                    Kind.BEDROCK, URI.create("https://bedrock-runtime." + region + ".amazonaws.com"), region);
        }
        if (scheme.equals(Kind.OPENAI.scheme()) || scheme.equals(Kind.ANTHROPIC.scheme())) {
            throw invalid(
                    url,
                    scheme + ":// takes no host; to use another base URL, configure it with the "
                            + "endpoint's base URI");
        }
        for (Kind kind : Kind.values()) {
            if (kind.scheme().equals(scheme)) {
                requireHost(url, uri);
                if (uri.getPort() < 0) {
                    throw invalid(url, "it has no port");
                }
                if (uri.getRawPath() != null
                        && !uri.getRawPath().isEmpty()
                        && !uri.getRawPath().equals("/")) {
                    throw invalid(url, "an engine URL takes no path");
                }
                return new EngineEndpoint(kind, URI.create("http://" + uri.getRawAuthority()));
            }
        }
        throw invalid(url, scheme.isEmpty() ? "it has no scheme" : "scheme '" + scheme + "' is not supported");
    }

    /** The same kind (and region) at another base URL, e.g. a proxy or a local test server. */
    public EngineEndpoint withBaseUri(URI uri) {
        String text = uri.toString();
        while (text.endsWith("/")) {
            text = text.substring(0, text.length() - 1);
        }
        return new EngineEndpoint(kind, URI.create(text), region);
    }

    /** The absolute URL of the chat completions resource. */
    public String chatCompletionsUrl() {
        return baseUri + CHAT_COMPLETIONS_PATH;
    }

    /** The path of the chat completions resource relative to the host, including any base path. */
    String chatCompletionsPath() {
        return path(CHAT_COMPLETIONS_PATH);
    }

    /** {@code suffix} under the base path, relative to the host. */
    String path(String suffix) {
        String base = baseUri.getRawPath() == null ? "" : baseUri.getRawPath();
        return base + suffix;
    }

    /** The engine, for logs and messages: kind and base URL (never a credential). */
    public String describe() {
        return kind.scheme() + " at " + baseUri + (region == null ? "" : " (region " + region + ")");
    }

    private static void requireHost(String url, URI uri) {
        if (uri.getHost() == null || uri.getHost().isBlank()) {
            throw invalid(url, "it has no host");
        }
    }

    private static IllegalArgumentException invalid(String url, String why) {
        return new IllegalArgumentException(
                "invalid engine URL '" + url + "' (" + why + "); expected " + ACCEPTED_FORMS);
    }
}
