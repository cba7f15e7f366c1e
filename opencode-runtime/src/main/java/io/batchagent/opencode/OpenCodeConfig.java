package io.batchagent.opencode;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The OpenCode configuration a session gets in {@code OPENCODE_CONFIG_CONTENT} (the highest-precedence
 * source, merged over any file): one provider, {@value OpenCodeRuntime#PROVIDER}, using the
 * {@code @ai-sdk/openai-compatible} package with the gateway's per-job URL as {@code baseURL}, serving the
 * model with its {@code limit.context} and {@code limit.output} (without them OpenCode asks for 32,000 output
 * tokens); that model as the main and small model; only that provider enabled; no auto-update, no
 * sharing, no snapshots (git copies of the workspace per step, which a batch job does not need).
 */
final class OpenCodeConfig {

    private OpenCodeConfig() {}

    /**
     * @param baseUrl the gateway's OpenAI base URL for the session's job ({@code .../v1})
     * @param accessToken the gateway's access token, or null when it takes none
     */
    static String json(OpenCodeSettings settings, String baseUrl, String accessToken) {
        JsonNodeFactory nodes = JsonNodeFactory.instance;
        ObjectNode root = nodes.objectNode();
        root.put("$schema", "https://opencode.ai/config.json");
        ObjectNode provider = root.putObject("provider").putObject(OpenCodeRuntime.PROVIDER);
        provider.put("npm", "@ai-sdk/openai-compatible");
        provider.put("name", "BatchAgent gateway");
        ObjectNode options = provider.putObject("options");
        options.put("baseURL", baseUrl);
        // The SDK sends some key; the gateway checks it only when it has a token.
        options.put("apiKey", accessToken == null ? "batchagent" : accessToken);
        ObjectNode model = provider.putObject("models").putObject(settings.model());
        model.put("name", settings.model());
        model.putObject("limit").put("context", settings.contextTokens()).put("output", settings.outputTokens());
        String qualified = OpenCodeRuntime.PROVIDER + "/" + settings.model();
        root.put("model", qualified);
        root.put("small_model", qualified);
        root.putArray("enabled_providers").add(OpenCodeRuntime.PROVIDER);
        root.put("autoupdate", false);
        root.put("share", "disabled");
        root.put("snapshot", false);
        return root.toString();
    }
}
