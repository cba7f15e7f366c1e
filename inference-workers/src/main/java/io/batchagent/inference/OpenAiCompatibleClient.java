package io.batchagent.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.handler.codec.http.HttpMethod;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An {@link EngineClient} for engines served over OpenAI chat completions: SGLang, vLLM, Dynamo's
 * frontend, the OpenAI API, the engine simulator and any other OpenAI-compatible server.
 * {@code POST {base}/v1/chat/completions} over a pooled reactor-netty connection, reading a server-sent
 * event stream or a plain JSON answer (by the response's content type). The request is shaped by the
 * endpoint kind's {@link OpenAiDialect}.
 *
 * <p><b>Capability probe.</b> At the first prompt call for a model (a raw body is sent as is, unprobed), the client finds out what the engine accepts
 * and reports, logs it once (INFO) and adapts: {@code GET /v1/models} (listed models), {@code GET /metrics}
 * (which metric family), and for SGLang and vLLM one {@code max_tokens: 1} call with a {@code priority} (a
 * 4xx means the engine rejects it: vLLM without {@code --scheduling-policy priority}), for Dynamo one with
 * {@code nvext.agent_hints} (newer Dynamo rejects unknown keys); those calls also show whether cached
 * tokens are reported. A field the probe did not see accepted is never sent. Generic endpoints (an http
 * URL) get only the two GETs; the OpenAI API gets the model list only.
 *
 * <p><b>Failures</b> are data (see {@link EngineClient}) and retried by {@link EngineRetry}: connection
 * failures, connections lost mid-answer, broken event streams and HTTP 429/502/503/504/529 (honouring
 * {@code Retry-After}), up to {@link InferenceWorkerConfig#maxAttempts()} attempts; other statuses fail at
 * once with the engine's own message; each attempt is bounded by
 * {@link InferenceWorkerConfig#engineTimeout()} (not retried: a timed-out call would only add load).
 *
 * <p>The API key, if any, is sent as {@code Authorization: Bearer} and never logged. Request bodies are
 * logged at TRACE only. Thread-safe. {@link #close()} releases the pool; calls after it fail.
 */
public final class OpenAiCompatibleClient implements CloseableEngineClient {

    private static final Logger LOGGER = LoggerFactory.getLogger(OpenAiCompatibleClient.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(30);

    private final EngineEndpoint endpoint;
    private final OpenAiDialect dialect;
    private final HttpTransport transport;
    private final EngineRetry retry;
    private final String apiKey;
    private final Map<String, CompletableFuture<EngineCapabilities>> probes = new ConcurrentHashMap<>();

    /**
     * @param endpoint where the engine listens; its kind selects the dialect (an anthropic:// or bedrock://
     *     endpoint is refused: see {@link EngineClients})
     * @param config the engine timeout, retries, backoff, pool size and API key are taken from it
     */
    public OpenAiCompatibleClient(EngineEndpoint endpoint, InferenceWorkerConfig config) {
        this.endpoint = endpoint;
        this.dialect = OpenAiDialect.of(endpoint.kind());
        this.apiKey = config.engineApiKey();
        Map<String, String> headers = new HashMap<>();
        if (config.engineApiKey() != null) {
            headers.put("Authorization", "Bearer " + config.engineApiKey());
        }
        this.transport = new HttpTransport("batchagent-engine", endpoint, config, headers);
        this.retry = new EngineRetry("batchagent-engine", config);
    }

    public EngineEndpoint endpoint() {
        return endpoint;
    }

    @Override
    public CompletableFuture<ChatResponse> complete(ChatRequest request) {
        long start = System.nanoTime();
        if (request.prompt() == null) {
            return send(request, request.body(), Map.of(), start);
        }
        return capabilities(request.model())
                .thenCompose(capabilities ->
                        send(request, dialect.render(request.prompt(), capabilities), dialect.headers(request), start))
                // Defensive: a bug in rendering must not break the "never exceptional" contract.
                .exceptionally(error -> ChatResponse.failed(
                        EngineFailure.other("engine call failed unexpectedly: " + EngineRetry.describe(error), false),
                        elapsedMs(start)));
    }

    @Override
    public CompletableFuture<EngineCapabilities> capabilities(String model) {
        String key = model == null ? "" : model;
        CompletableFuture<EngineCapabilities> known = probes.get(key);
        if (known != null) {
            return known;
        }
        CompletableFuture<EngineCapabilities> mine = new CompletableFuture<>();
        known = probes.putIfAbsent(key, mine);
        if (known != null) {
            return known;
        }
        probe(key).whenComplete((capabilities, error) -> {
            EngineCapabilities found = capabilities != null ? capabilities : EngineCapabilities.unknown();
            // A probe the engine did not answer (down, overloaded) decides nothing: the next call probes again.
            if (!found.probed()) {
                probes.remove(key, mine);
            }
            mine.complete(found);
        });
        return mine;
    }

    private CompletableFuture<ChatResponse> send(
            ChatRequest request, byte[] body, Map<String, String> headers, long start) {
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
                                    endpoint.chatCompletionsPath(), headers, body, ChatCompletionParser.READER, start);
                        },
                        (failure, attempts) -> ChatResponse.failed(failure.toFailure(attempts), elapsedMs(start)))
                .thenApply(response -> withLatency(response, start))
                .exceptionally(error -> ChatResponse.failed(
                        EngineFailure.other("engine call failed unexpectedly: " + EngineRetry.describe(error), false),
                        elapsedMs(start)));
    }

    /** The latency of the whole call, retries included. */
    private ChatResponse withLatency(ChatResponse response, long start) {
        return new ChatResponse(
                response.content(),
                response.toolCalls(),
                response.finishReason(),
                response.usage(),
                response.timeToFirstTokenMs(),
                elapsedMs(start),
                response.failure());
    }

    private CompletableFuture<EngineCapabilities> probe(String model) {
        CompletableFuture<List<String>> models = transport
                .exchange(HttpMethod.GET, endpoint.path("/v1/models"), Map.of(), null, PROBE_TIMEOUT)
                .thenApply(OpenAiCompatibleClient::modelIds)
                .exceptionally(error -> List.of());
        CompletableFuture<String> family = dialect == OpenAiDialect.OPENAI
                ? CompletableFuture.completedFuture(null)
                : transport
                        .exchange(HttpMethod.GET, endpoint.path("/metrics"), Map.of(), null, PROBE_TIMEOUT)
                        .thenApply(reply -> reply.ok() ? EngineMetrics.family(reply.body()) : null)
                        .exceptionally(error -> null);
        CompletableFuture<FieldProbe> priority = dialect.probesPriority()
                ? probeField(model, "priority", fields -> fields.put("priority", 1))
                : CompletableFuture.completedFuture(FieldProbe.NOT_PROBED);
        CompletableFuture<FieldProbe> nvext = dialect == OpenAiDialect.DYNAMO
                ? probeField(model, "nvext.agent_hints", fields -> {
                    ObjectNode hints = fields.putObject("nvext").putObject("agent_hints");
                    hints.put("priority", SchedulingHints.NEW_AGENT);
                    hints.put("osl", 1);
                    hints.put("speculative_prefill", false);
                })
                : CompletableFuture.completedFuture(FieldProbe.NOT_PROBED);
        return CompletableFuture.allOf(models, family, priority, nvext).thenApply(ignored -> {
            List<String> listed = models.join();
            EngineCapabilities.Report report = dialect == OpenAiDialect.OPENAI
                    ? EngineCapabilities.Report.YES
                    : priority.join().cacheReport != EngineCapabilities.Report.UNKNOWN
                            ? priority.join().cacheReport
                            : nvext.join().cacheReport;
            List<String> notes = new ArrayList<>();
            notes.add("models=" + listed);
            if (!listed.isEmpty() && model != null && !listed.contains(model)) {
                notes.add("model '" + model + "' is not listed");
            }
            notes.add("metrics=" + (family.join() == null ? "none" : family.join()));
            if (priority.join() != FieldProbe.NOT_PROBED) {
                notes.add("priority=" + priority.join().describe());
            }
            if (nvext.join() != FieldProbe.NOT_PROBED) {
                notes.add("nvext=" + nvext.join().describe());
            }
            notes.add("cachedTokens=" + report);
            boolean answered = priority.join().answered && nvext.join().answered;
            EngineCapabilities capabilities = new EngineCapabilities(
                    answered,
                    listed,
                    family.join(),
                    priority.join().accepted,
                    nvext.join().accepted,
                    report,
                    String.join(", ", notes));
            if (answered) {
                LOGGER.info(
                        "engine capabilities: engine={} model={} {}", endpoint.describe(), model, capabilities.notes());
            } else {
                LOGGER.warn(
                        "engine capability probe not answered, optional fields not sent; probing again at the next "
                                + "call: engine={} model={} {}",
                        endpoint.describe(),
                        model,
                        capabilities.notes());
            }
            return capabilities;
        });
    }

    /** Whether the engine accepted a call carrying an optional field. */
    private record FieldProbe(boolean accepted, String why, EngineCapabilities.Report cacheReport, boolean answered) {
        static final FieldProbe NOT_PROBED =
                new FieldProbe(false, "not probed", EngineCapabilities.Report.UNKNOWN, true);

        String describe() {
            return (accepted ? "accepted" : "not sent") + (why.isEmpty() ? "" : " (" + why + ")");
        }
    }

    private CompletableFuture<FieldProbe> probeField(String model, String what, Consumer<ObjectNode> addField) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", model);
        body.putArray("messages").addObject().put("role", "user").put("content", "ping");
        body.put("max_tokens", 1);
        body.put("stream", false);
        addField.accept(body);
        return transport
                .exchange(HttpMethod.POST, endpoint.chatCompletionsPath(), Map.of(), body.toString(), PROBE_TIMEOUT)
                .thenApply(reply -> {
                    if (reply.ok()) {
                        return new FieldProbe(true, "", cacheReport(reply.body()), true);
                    }
                    String message = redact(EngineMessages.engineMessage(reply.body()));
                    if (reply.status() >= 400 && reply.status() < 500) {
                        LOGGER.info(
                                "engine rejects {}: engine={} model={} status={} message={}",
                                what,
                                endpoint.describe(),
                                model,
                                reply.status(),
                                message);
                        return new FieldProbe(
                                false,
                                "HTTP " + reply.status() + ": " + message,
                                EngineCapabilities.Report.UNKNOWN,
                                true);
                    }
                    return new FieldProbe(
                            false,
                            "probe answered HTTP " + reply.status() + ": " + message,
                            EngineCapabilities.Report.UNKNOWN,
                            false);
                })
                .exceptionally(error -> new FieldProbe(
                        false,
                        "probe failed: " + EngineRetry.describe(error),
                        EngineCapabilities.Report.UNKNOWN,
                        false));
    }

    private String redact(String text) {
        return apiKey == null ? text : text.replace(apiKey, "****");
    }

    private static EngineCapabilities.Report cacheReport(String body) {
        try {
            JsonNode cached = JSON.readTree(body)
                    .path("usage")
                    .path("prompt_tokens_details")
                    .path("cached_tokens");
            return cached.isNumber() ? EngineCapabilities.Report.YES : EngineCapabilities.Report.NO;
        } catch (java.io.IOException e) {
            return EngineCapabilities.Report.UNKNOWN;
        }
    }

    private static List<String> modelIds(HttpTransport.HttpReply reply) {
        if (!reply.ok()) {
            return List.of();
        }
        try {
            List<String> ids = new ArrayList<>();
            for (JsonNode model : JSON.readTree(reply.body()).path("data")) {
                if (model.path("id").isTextual()) {
                    ids.add(model.get("id").asText());
                }
            }
            return ids;
        } catch (java.io.IOException e) {
            return List.of();
        }
    }

    private static long elapsedMs(long start) {
        return TimeUnit.NANOSECONDS.toMillis(Math.max(0, System.nanoTime() - start));
    }

    /** Releases the connection pool (waiting up to 5 s for connections in use) and the retry scheduler. */
    @Override
    public void close() {
        retry.close();
        transport.close();
    }
}
