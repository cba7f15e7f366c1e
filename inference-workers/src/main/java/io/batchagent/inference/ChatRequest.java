package io.batchagent.inference;

import java.util.Objects;

/**
 * One model call, plus who it is for (for logs and engine session headers).
 *
 * <p>Either a {@link AgentPrompt} that the client renders in its engine's format (what the inference
 * worker sends), or a raw OpenAI chat completions body sent as is (tests and tools; only
 * OpenAI-compatible clients accept it). Exactly one of the two is set.
 *
 * <p>A raw body is not copied; callers must not change it after handing it over. Both hold the prompt,
 * so {@link #toString()} shows only sizes.
 *
 * @param jobId the agent the call is for; also the engine session id where the engine takes one
 * @param turn the agent's turn number, 1 for its first model call; 0 for a warm-up or probe
 * @param model the model named in the call
 * @param body the UTF-8 JSON request body (OpenAI chat completions format), or null with a prompt
 * @param prompt what to render, or null with a raw body
 */
public record ChatRequest(String jobId, int turn, String model, byte[] body, AgentPrompt prompt) {

    public ChatRequest {
        Objects.requireNonNull(jobId, "jobId");
        if ((body == null) == (prompt == null)) {
            throw new IllegalArgumentException("a ChatRequest has either a raw body or a prompt, not both or neither");
        }
    }

    /** A raw OpenAI chat completions body. */
    public ChatRequest(String jobId, int turn, String model, byte[] body) {
        this(jobId, turn, model, Objects.requireNonNull(body, "body"), null);
    }

    /** A call the client renders for its engine. */
    public static ChatRequest of(String jobId, int turn, AgentPrompt prompt) {
        return new ChatRequest(jobId, turn, prompt.model(), null, Objects.requireNonNull(prompt, "prompt"));
    }

    @Override
    public String toString() {
        return "ChatRequest[jobId=" + jobId + ", turn=" + turn + ", model=" + model + ", "
                + (body != null ? "body=" + body.length + " bytes" : "prompt=" + prompt) + "]";
    }
}
