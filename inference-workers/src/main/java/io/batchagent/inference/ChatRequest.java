package io.batchagent.inference;

import java.util.Objects;

/**
 * One chat completion call: the request body, already rendered, plus who it is for (for logs).
 *
 * <p>The body is not copied; callers must not change it after handing it over. It holds the prompt,
 * so {@link #toString()} shows only its size.
 *
 * @param jobId the agent the call is for
 * @param turn the agent's turn number, 1 for its first model call
 * @param model the model named in the body
 * @param body the UTF-8 JSON request body (OpenAI chat completions format)
 */
public record ChatRequest(String jobId, int turn, String model, byte[] body) {

    public ChatRequest {
        Objects.requireNonNull(jobId, "jobId");
        Objects.requireNonNull(body, "body");
    }

    @Override
    public String toString() {
        return "ChatRequest[jobId=" + jobId + ", turn=" + turn + ", model=" + model + ", body=" + body.length + " bytes]";
    }
}
