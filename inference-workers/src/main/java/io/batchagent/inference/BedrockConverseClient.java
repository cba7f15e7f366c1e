package io.batchagent.inference;

import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.ToolCallRef;
import io.batchagent.events.ToolSpec;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.bedrockruntime.BedrockRuntimeClient;
import software.amazon.awssdk.services.bedrockruntime.model.CachePointBlock;
import software.amazon.awssdk.services.bedrockruntime.model.CachePointType;
import software.amazon.awssdk.services.bedrockruntime.model.ContentBlock;
import software.amazon.awssdk.services.bedrockruntime.model.ConversationRole;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseRequest;
import software.amazon.awssdk.services.bedrockruntime.model.ConverseResponse;
import software.amazon.awssdk.services.bedrockruntime.model.InferenceConfiguration;
import software.amazon.awssdk.services.bedrockruntime.model.Message;
import software.amazon.awssdk.services.bedrockruntime.model.SystemContentBlock;
import software.amazon.awssdk.services.bedrockruntime.model.Tool;
import software.amazon.awssdk.services.bedrockruntime.model.ToolConfiguration;
import software.amazon.awssdk.services.bedrockruntime.model.ToolInputSchema;
import software.amazon.awssdk.services.bedrockruntime.model.ToolResultBlock;
import software.amazon.awssdk.services.bedrockruntime.model.ToolResultContentBlock;
import software.amazon.awssdk.services.bedrockruntime.model.ToolSpecification;
import software.amazon.awssdk.services.bedrockruntime.model.ToolUseBlock;

/**
 * An {@link EngineClient} for Amazon Bedrock's Converse API, through the AWS SDK v2
 * {@link BedrockRuntimeClient} (which signs each request with SigV4 from the configured credentials).
 *
 * <p>Request: {@code modelId} = the batch's model; {@code system} = the system content then a
 * {@code cachePoint} block; {@code toolConfig.tools} = one {@code toolSpec} per declared tool (its
 * {@code inputSchema.json} the canonical parameters) then a {@code cachePoint} block; the two cache points
 * close the shared prefix, which the SDK request parts of a batch reuse. Messages: USER becomes a user
 * {@code text} block, ASSISTANT an assistant message with its text (if any) and one {@code toolUse} block
 * per call, each TOOL message a {@code toolResult} block answering its {@code toolUseId}; consecutive
 * messages of one role are merged, so parallel calls' results form one user message. {@code inferenceConfig}
 * carries max tokens and temperature. Not streamed (Converse, not ConverseStream).
 *
 * <p>Answer: text blocks concatenated, {@code toolUse} blocks as tool calls (input as JSON text); stop
 * reasons as for Anthropic ({@code end_turn} to {@code stop}, {@code tool_use} to {@code tool_calls},
 * {@code max_tokens} to {@code length}); usage prompt = {@code inputTokens} + {@code cacheReadInputTokens}
 * + {@code cacheWriteInputTokens} (Bedrock's input count excludes both), cached = {@code cacheReadInputTokens}.
 *
 * <p>Failures are data, retried by {@link EngineRetry} (the SDK's own retries are off, so that one policy
 * governs every engine): throttling (429), service unavailable (503), model not ready, and client-side I/O
 * errors are retried, honouring {@code Retry-After}; other service errors fail at once with Bedrock's own
 * message. Calls run on a pool of {@link InferenceWorkerConfig#maxInflight()} threads (the SDK client is
 * blocking), with as many pooled connections.
 *
 * <p>Credentials come from the SDK's default chain (environment, profile, instance role) unless given;
 * they are never logged. Thread-safe. {@link #close()} releases the client and the threads.
 */
public final class BedrockConverseClient implements CloseableEngineClient {

    private static final Logger LOGGER = LoggerFactory.getLogger(BedrockConverseClient.class);
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);

    private final EngineEndpoint endpoint;
    private final BedrockRuntimeClient bedrock;
    private final ExecutorService calls;
    private final EngineRetry retry;

    /** A client with the SDK's default credentials chain. */
    public BedrockConverseClient(EngineEndpoint endpoint, InferenceWorkerConfig config) {
        this(endpoint, config, DefaultCredentialsProvider.builder().build());
    }

    /**
     * @param endpoint a {@code bedrock://region} endpoint; a base URI other than the region's default (see
     *     {@link EngineEndpoint#withBaseUri}) becomes the SDK's endpoint override
     * @param credentials signs the requests
     */
    public BedrockConverseClient(
            EngineEndpoint endpoint, InferenceWorkerConfig config, AwsCredentialsProvider credentials) {
        if (endpoint.kind() != EngineEndpoint.Kind.BEDROCK) {
            throw new IllegalArgumentException("not a bedrock:// endpoint: " + endpoint.kind());
        }
        this.endpoint = endpoint;
        SdkHttpClient http = Apache5HttpClient.builder()
                .maxConnections(config.maxInflight())
                .connectionTimeout(CONNECT_TIMEOUT)
                .socketTimeout(config.engineTimeout())
                .build();
        var builder = BedrockRuntimeClient.builder()
                .region(Region.of(endpoint.region()))
                .credentialsProvider(credentials)
                .httpClient(http)
                .overrideConfiguration(c ->
                        c.retryStrategy(AwsRetryStrategy.doNotRetry()).apiCallAttemptTimeout(config.engineTimeout()));
        URI regional = URI.create("https://bedrock-runtime." + endpoint.region() + ".amazonaws.com");
        if (!endpoint.baseUri().equals(regional)) {
            builder.endpointOverride(endpoint.baseUri());
        }
        this.bedrock = builder.build();
        AtomicInteger threads = new AtomicInteger();
        this.calls = Executors.newFixedThreadPool(config.maxInflight(), runnable -> {
            Thread thread = new Thread(runnable, "batchagent-bedrock-" + threads.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        });
        this.retry = new EngineRetry("batchagent-bedrock", config);
    }

    @Override
    public CompletableFuture<ChatResponse> complete(ChatRequest request) {
        long start = System.nanoTime();
        if (request.prompt() == null) {
            return CompletableFuture.completedFuture(ChatResponse.failed(
                    EngineFailure.other(
                            "the Bedrock client renders prompts itself and takes no raw chat completions body", false),
                    0));
        }
        ConverseRequest converse;
        try {
            converse = converseRequest(request.prompt());
        } catch (RuntimeException e) {
            return CompletableFuture.completedFuture(ChatResponse.failed(
                    EngineFailure.other("cannot render the request: " + e.getMessage(), false), elapsedMs(start)));
        }
        if (LOGGER.isTraceEnabled()) {
            LOGGER.trace(
                    "request: jobId={} turn={} model={} request={}",
                    request.jobId(),
                    request.turn(),
                    request.model(),
                    converse);
        }
        EngineRetry.Label label = new EngineRetry.Label(request.jobId(), request.turn(), request.model());
        return retry.call(
                        label,
                        attempt -> {
                            LOGGER.debug(
                                    "engine call: jobId={} turn={} model={} attempt={}",
                                    request.jobId(),
                                    request.turn(),
                                    request.model(),
                                    attempt);
                            return attempt(converse, start);
                        },
                        (failure, attempts) -> ChatResponse.failed(failure.toFailure(attempts), elapsedMs(start)))
                .exceptionally(error -> ChatResponse.failed(
                        EngineFailure.other("engine call failed unexpectedly: " + EngineRetry.describe(error), false),
                        elapsedMs(start)));
    }

    @Override
    public CompletableFuture<EngineCapabilities> capabilities(String model) {
        return CompletableFuture.completedFuture(
                EngineCapabilities.documented("Bedrock Converse: cacheReadInputTokens reported, no priority"));
    }

    private CompletableFuture<ChatResponse> attempt(ConverseRequest converse, long start) {
        CompletableFuture<ChatResponse> answer = new CompletableFuture<>();
        try {
            calls.execute(() -> {
                try {
                    answer.complete(toResponse(bedrock.converse(converse), start));
                } catch (RuntimeException e) {
                    answer.completeExceptionally(classify(e));
                }
            });
        } catch (RejectedExecutionException e) {
            answer.completeExceptionally(new AttemptFailure(null, "the Bedrock client is closed", null, false, null));
        }
        return answer;
    }

    /** The SDK request of a prompt; the batch's system and tool parts are built once and shared. */
    static ConverseRequest converseRequest(AgentPrompt prompt) {
        BatchSpec spec = prompt.spec();
        SharedParts shared = prompt.batch().rendering(SharedParts.class, () -> SharedParts.of(spec));
        List<Message> messages = messages(prompt.isWarmUp() ? List.of() : prompt.messages());
        if (messages.isEmpty()) {
            messages = List.of(Message.builder()
                    .role(ConversationRole.USER)
                    .content(ContentBlock.fromText(AnthropicMessages.WARM_UP_TEXT))
                    .build());
        }
        ConverseRequest.Builder request = ConverseRequest.builder()
                .modelId(spec.getModel())
                .messages(messages)
                .inferenceConfig(InferenceConfiguration.builder()
                        .maxTokens(prompt.maxTokens())
                        .temperature((float) spec.getTemperature())
                        .build());
        if (!shared.system.isEmpty()) {
            request.system(shared.system);
        }
        if (shared.tools != null) {
            request.toolConfig(shared.tools);
        }
        return request.build();
    }

    /** What every call of a batch shares: the system blocks and the tool configuration, each closed by a cache point. */
    private record SharedParts(List<SystemContentBlock> system, ToolConfiguration tools) {
        static SharedParts of(BatchSpec spec) {
            CachePointBlock cachePoint =
                    CachePointBlock.builder().type(CachePointType.DEFAULT).build();
            String systemText = SharedPrefix.systemContent(spec);
            List<SystemContentBlock> system = systemText.isEmpty()
                    ? List.of()
                    : List.of(SystemContentBlock.fromText(systemText), SystemContentBlock.fromCachePoint(cachePoint));
            ToolConfiguration tools = null;
            if (!spec.getTools().isEmpty()) {
                List<Tool> list = new ArrayList<>();
                for (ToolSpec tool : spec.getTools()) {
                    String schema = SharedPrefix.canonicalObject(
                            tool.getParametersJson(),
                            "batch '" + spec.getBatchId() + "': parametersJson of tool '" + tool.getName() + "'");
                    list.add(Tool.fromToolSpec(ToolSpecification.builder()
                            .name(tool.getName())
                            .description(
                                    tool.getDescription() == null
                                                    || tool.getDescription().isEmpty()
                                            ? tool.getName()
                                            : tool.getDescription())
                            .inputSchema(ToolInputSchema.fromJson(JsonDocuments.fromJson(schema)))
                            .build()));
                }
                list.add(Tool.fromCachePoint(cachePoint));
                tools = ToolConfiguration.builder().tools(list).build();
            }
            return new SharedParts(system, tools);
        }
    }

    /** The conversation as Converse messages, consecutive roles merged. */
    static List<Message> messages(List<ChatMessage> history) {
        List<Message> messages = new ArrayList<>();
        ConversationRole currentRole = null;
        List<ContentBlock> content = null;
        for (ChatMessage message : history) {
            ConversationRole role = message.getRole() == io.batchagent.events.Role.ASSISTANT
                    ? ConversationRole.ASSISTANT
                    : ConversationRole.USER;
            List<ContentBlock> blocks = blocks(message);
            if (role != currentRole) {
                if (content != null) {
                    messages.add(
                            Message.builder().role(currentRole).content(content).build());
                }
                content = new ArrayList<>();
                currentRole = role;
            }
            content.addAll(blocks);
        }
        if (content != null) {
            messages.add(Message.builder().role(currentRole).content(content).build());
        }
        return messages;
    }

    private static List<ContentBlock> blocks(ChatMessage message) {
        List<ContentBlock> blocks = new ArrayList<>();
        switch (message.getRole()) {
            case USER -> {
                String text =
                        message.getContent() == null || message.getContent().isEmpty()
                                ? AnthropicMessages.WARM_UP_TEXT
                                : message.getContent();
                blocks.add(ContentBlock.fromText(text));
            }
            case ASSISTANT -> {
                if (message.getContent() != null && !message.getContent().isBlank()) {
                    blocks.add(ContentBlock.fromText(message.getContent()));
                }
                for (ToolCallRef call : message.getToolCalls()) {
                    blocks.add(ContentBlock.fromToolUse(ToolUseBlock.builder()
                            .toolUseId(call.getId())
                            .name(call.getName())
                            .input(JsonDocuments.fromNode(AnthropicMessages.input(call.getArgumentsJson())))
                            .build()));
                }
                if (blocks.isEmpty()) {
                    blocks.add(ContentBlock.fromText("(no answer)"));
                }
            }
            case TOOL ->
                blocks.add(ContentBlock.fromToolResult(ToolResultBlock.builder()
                        .toolUseId(message.getToolCallId() == null ? "" : message.getToolCallId())
                        .content(ToolResultContentBlock.fromText(
                                message.getContent() == null
                                                || message.getContent().isEmpty()
                                        ? "(empty)"
                                        : message.getContent()))
                        .build()));
        }
        return blocks;
    }

    static ChatResponse toResponse(ConverseResponse response, long start) {
        StringBuilder text = new StringBuilder();
        boolean sawText = false;
        List<RequestedToolCall> calls = new ArrayList<>();
        if (response.output() != null && response.output().message() != null) {
            for (ContentBlock block : response.output().message().content()) {
                if (block.text() != null) {
                    text.append(block.text());
                    sawText = true;
                } else if (block.toolUse() != null) {
                    ToolUseBlock use = block.toolUse();
                    calls.add(new RequestedToolCall(
                            use.toolUseId(),
                            use.name(),
                            use.input() == null ? "{}" : JsonDocuments.toJson(use.input())));
                }
            }
        }
        TokenUsage usage = TokenUsage.ZERO;
        if (response.usage() != null) {
            long input = value(response.usage().inputTokens());
            long read = value(response.usage().cacheReadInputTokens());
            long write = value(response.usage().cacheWriteInputTokens());
            usage = new TokenUsage(
                    input + read + write, read, value(response.usage().outputTokens()), write, true);
        }
        return ChatResponse.answer(
                sawText ? text.toString() : null,
                calls,
                AnthropicAnswerParser.finishReason(response.stopReasonAsString()),
                usage,
                OptionalLong.empty(),
                elapsedMs(start));
    }

    private AttemptFailure classify(RuntimeException error) {
        String request = "Converse at " + endpoint.baseUri();
        if (error instanceof AwsServiceException service) {
            int status = service.statusCode();
            String code = service.awsErrorDetails() == null
                    ? null
                    : service.awsErrorDetails().errorCode();
            String message = service.awsErrorDetails() == null
                            || service.awsErrorDetails().errorMessage() == null
                    ? service.getMessage()
                    : service.awsErrorDetails().errorMessage();
            boolean retriable = EngineMessages.RETRIED_STATUSES.contains(status)
                    || service.isThrottlingException()
                    || "ModelNotReadyException".equals(code)
                    || "ServiceUnavailableException".equals(code);
            Duration retryAfter = service.awsErrorDetails() == null
                            || service.awsErrorDetails().sdkHttpResponse() == null
                    ? null
                    : EngineMessages.retryAfter(name -> service.awsErrorDetails()
                            .sdkHttpResponse()
                            .firstMatchingHeader(name)
                            .orElse(null));
            return new AttemptFailure(
                    OptionalInt.of(status),
                    "Bedrock answered HTTP " + status + (code == null ? "" : " " + code) + " to " + request,
                    EngineMessages.excerpt(message),
                    retriable,
                    retryAfter);
        }
        if (error instanceof ApiCallAttemptTimeoutException || error instanceof ApiCallTimeoutException) {
            return new AttemptFailure(
                    null,
                    "no complete answer from Bedrock within the engine timeout (" + request + ")",
                    null,
                    false,
                    null);
        }
        if (error instanceof SdkClientException) {
            return new AttemptFailure(
                    null, "cannot reach Bedrock (" + request + ")", EngineRetry.describe(error), true, null);
        }
        return new AttemptFailure(
                null, "Bedrock call failed (" + request + ")", EngineRetry.describe(error), false, null);
    }

    private static long value(Integer count) {
        return count == null ? 0 : count;
    }

    private static long elapsedMs(long start) {
        return TimeUnit.NANOSECONDS.toMillis(Math.max(0, System.nanoTime() - start));
    }

    @Override
    public void close() {
        retry.close();
        calls.shutdownNow();
        bedrock.close();
    }
}
