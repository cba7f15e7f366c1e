package io.batchagent.inference;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

/**
 * Test double of {@link EngineClient}: answers each request with what the test scripted for its job
 * (a completed answer, or a future the test completes later), and records the requests in order.
 */
final class ScriptedEngineClient implements EngineClient {

    private final Map<String, Function<ChatRequest, CompletableFuture<ChatResponse>>> byJob = new ConcurrentHashMap<>();
    private final List<ChatRequest> requests = new CopyOnWriteArrayList<>();
    private volatile Function<ChatRequest, CompletableFuture<ChatResponse>> fallback =
            request -> CompletableFuture.completedFuture(answer("{\"city\":\"x\",\"population\":1}"));

    /** Every request answers with {@code response}, unless its job has its own script. */
    ScriptedEngineClient answerAll(ChatResponse response) {
        fallback = request -> CompletableFuture.completedFuture(response);
        return this;
    }

    /** Every request gets a future the test completes (or leaves pending), unless its job has its own script. */
    ScriptedEngineClient answerAllWith(Function<ChatRequest, CompletableFuture<ChatResponse>> script) {
        fallback = script;
        return this;
    }

    ScriptedEngineClient answer(String jobId, ChatResponse response) {
        byJob.put(jobId, request -> CompletableFuture.completedFuture(response));
        return this;
    }

    List<ChatRequest> requests() {
        return requests;
    }

    List<String> jobsInCallOrder() {
        return requests.stream().map(ChatRequest::jobId).toList();
    }

    @Override
    public CompletableFuture<ChatResponse> complete(ChatRequest request) {
        requests.add(request);
        return byJob.getOrDefault(request.jobId(), fallback).apply(request);
    }

    static ChatResponse answer(String content) {
        return ChatResponse.answer(
                content, List.of(), "stop", new TokenUsage(100, 80, 10), java.util.OptionalLong.of(15), 40);
    }

    static ChatResponse toolCalls(RequestedToolCall... calls) {
        return ChatResponse.answer(
                null, List.of(calls), "tool_calls", new TokenUsage(100, 80, 10), java.util.OptionalLong.of(15), 40);
    }
}
