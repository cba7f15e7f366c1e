package io.batchagent.inference;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An {@link EngineClient} for the Anthropic Messages API: {@code POST {base}/v1/messages}, streamed, with
 * headers {@code x-api-key} (the configured API key) and {@code anthropic-version: }{@value #API_VERSION}.
 * Requests are rendered by {@link AnthropicMessages} (tools and system closed by {@code cache_control}
 * breakpoints, {@code tool_use} / {@code tool_result} blocks), answers read by {@link AnthropicAnswerParser}
 * ({@code input_json_delta} fragments accumulated into the tool arguments).
 *
 * <p>Failures are data and retried as for every client (see {@link EngineRetry}): 429 {@code rate_limit_error}
 * and 529 {@code overloaded_error} honour {@code retry-after}; other 4xx fail at once with the API's own
 * message. No capability probe: the API reports cached tokens and takes no priority. Only prompts are
 * accepted (a raw OpenAI body is refused with a failure).
 *
 * <p>The API key is never logged. Thread-safe. {@link #close()} releases the pool.
 */
public final class AnthropicClient implements CloseableEngineClient {

    private static final Logger LOGGER = LoggerFactory.getLogger(AnthropicClient.class);
    static final String API_VERSION = "2023-06-01";
    static final String MESSAGES_PATH = "/v1/messages";

    private final EngineEndpoint endpoint;
    private final HttpTransport transport;
    private final EngineRetry retry;

    /**
     * @param endpoint an {@code anthropic://} endpoint (or one pointed elsewhere with {@link EngineEndpoint#withBaseUri})
     * @param config timeout, retries, pool size and the API key ({@code x-api-key}) are taken from it
     */
    public AnthropicClient(EngineEndpoint endpoint, InferenceWorkerConfig config) {
        if (endpoint.kind() != EngineEndpoint.Kind.ANTHROPIC) {
            throw new IllegalArgumentException("not an anthropic:// endpoint: " + endpoint.kind());
        }
        this.endpoint = endpoint;
        Map<String, String> headers = new HashMap<>();
        headers.put("anthropic-version", API_VERSION);
        if (config.engineApiKey() != null) {
            headers.put("x-api-key", config.engineApiKey());
        }
        this.transport = new HttpTransport("batchagent-anthropic", endpoint, config, headers);
        this.retry = new EngineRetry("batchagent-anthropic", config);
    }

    @Override
    public CompletableFuture<ChatResponse> complete(ChatRequest request) {
        long start = System.nanoTime();
        if (request.prompt() == null) {
            return CompletableFuture.completedFuture(ChatResponse.failed(
                    EngineFailure.other(
                            "the Anthropic client renders prompts itself and takes no raw chat completions body",
                            false),
                    0));
        }
        byte[] body;
        try {
            body = AnthropicMessages.render(request.prompt());
        } catch (RuntimeException e) {
            return CompletableFuture.completedFuture(ChatResponse.failed(
                    EngineFailure.other("cannot render the request: " + e.getMessage(), false), elapsedMs(start)));
        }
        if (LOGGER.isTraceEnabled()) {
            LOGGER.trace(
                    "request body: jobId={} turn={} model={} body={}",
                    request.jobId(),
                    request.turn(),
                    request.model(),
                    new String(body, StandardCharsets.UTF_8));
        }
        EngineRetry.Label label = new EngineRetry.Label(request.jobId(), request.turn(), request.model());
        return retry.call(
                        label,
                        attempt -> {
                            LOGGER.debug(
                                    "engine call: jobId={} turn={} model={} attempt={} bytes={}",
                                    request.jobId(),
                                    request.turn(),
                                    request.model(),
                                    attempt,
                                    body.length);
                            return transport.postOnce(
                                    endpoint.path(MESSAGES_PATH), Map.of(), body, AnthropicAnswerParser.READER, start);
                        },
                        (failure, attempts) -> ChatResponse.failed(failure.toFailure(attempts), elapsedMs(start)))
                .thenApply(response -> new ChatResponse(
                        response.content(),
                        response.toolCalls(),
                        response.finishReason(),
                        response.usage(),
                        response.timeToFirstTokenMs(),
                        elapsedMs(start),
                        response.failure()))
                .exceptionally(error -> ChatResponse.failed(
                        EngineFailure.other("engine call failed unexpectedly: " + EngineRetry.describe(error), false),
                        elapsedMs(start)));
    }

    @Override
    public CompletableFuture<EngineCapabilities> capabilities(String model) {
        return CompletableFuture.completedFuture(
                EngineCapabilities.documented("Anthropic Messages API: cache_read_input_tokens reported, no priority"));
    }

    private static long elapsedMs(long start) {
        return TimeUnit.NANOSECONDS.toMillis(Math.max(0, System.nanoTime() - start));
    }

    @Override
    public void close() {
        retry.close();
        transport.close();
    }
}
