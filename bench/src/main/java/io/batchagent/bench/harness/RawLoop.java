package io.batchagent.bench.harness;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.Role;
import io.batchagent.events.ToolCallRef;
import io.batchagent.inference.ChatRequest;
import io.batchagent.inference.ChatResponse;
import io.batchagent.inference.EngineClient;
import io.batchagent.inference.RequestedToolCall;
import io.batchagent.inference.SharedPrefix;
import io.batchagent.tools.Tool;
import io.batchagent.tools.ToolContext;
import io.batchagent.tools.ToolRegistry;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;

/**
 * The baseline: a plain loop over the engine endpoint, as the Python original's condition A. Each
 * job holds a semaphore slot for its whole life (model call, tool execution, next model call), every
 * tool call is executed (no coalescing, no cache), and nothing is warmed.
 *
 * <p>To be a fair baseline it sends what BatchAgent sends: request bodies are rendered by the same
 * {@link SharedPrefix} from the same {@link BatchSpec} (so the prefix, tools and schema text are
 * byte-identical), through the same streaming engine client, and tool results enter the conversation
 * as the turn assembler puts them.
 */
public final class RawLoop {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** How one job went. */
    public record JobOutcome(
            String userMessage,
            boolean succeeded,
            int modelCalls,
            int toolCalls,
            String problem,
            long startNanos,
            long endNanos) {}

    private final EngineClient engine;
    private final ToolRegistry tools;

    /** @param tools the tools to execute in-process (a registry of its own, as a worker would have) */
    public RawLoop(EngineClient engine, ToolRegistry tools) {
        this.engine = engine;
        this.tools = tools;
    }

    /** Runs every job with at most {@code concurrency} jobs in progress at once; returns in input order. */
    public List<JobOutcome> run(BatchSpec spec, List<String> userMessages, int concurrency)
            throws InterruptedException {
        SharedPrefix prefix = SharedPrefix.of(spec);
        Semaphore slots = new Semaphore(concurrency);
        ExecutorService threads = Executors.newFixedThreadPool(Math.max(1, userMessages.size()));
        try {
            List<Future<JobOutcome>> futures = new ArrayList<>();
            for (String message : userMessages) {
                futures.add(threads.submit(() -> {
                    slots.acquire();
                    try {
                        return runJob(spec, prefix, message);
                    } finally {
                        slots.release();
                    }
                }));
            }
            List<JobOutcome> outcomes = new ArrayList<>();
            for (Future<JobOutcome> future : futures) {
                try {
                    outcomes.add(future.get());
                } catch (java.util.concurrent.ExecutionException e) {
                    throw new IllegalStateException("a raw-loop job failed unexpectedly", e.getCause());
                }
            }
            return outcomes;
        } finally {
            threads.shutdownNow();
        }
    }

    /** One job, start to end, on the calling thread. */
    public JobOutcome runJob(BatchSpec spec, SharedPrefix prefix, String userMessage) {
        long start = System.nanoTime();
        List<ChatMessage> messages = new ArrayList<>();
        messages.add(ChatMessage.newBuilder()
                .setRole(Role.USER)
                .setContent(userMessage)
                .build());
        int toolCalls = 0;
        for (int turn = 1; turn <= spec.getMaxTurns(); turn++) {
            ChatResponse response = engine.complete(
                            new ChatRequest("raw", turn, spec.getModel(), prefix.render(messages)))
                    .join();
            if (response.isFailure()) {
                return new JobOutcome(
                        userMessage, false, turn, toolCalls, response.failure().message(), start, System.nanoTime());
            }
            if (response.toolCalls().isEmpty()) {
                String problem = finalAnswerProblem(response);
                return new JobOutcome(userMessage, problem == null, turn, toolCalls, problem, start, System.nanoTime());
            }
            List<ToolCallRef> refs = new ArrayList<>();
            List<ChatMessage> results = new ArrayList<>();
            int position = 0;
            for (RequestedToolCall call : response.toolCalls()) {
                String id = call.id() == null || call.id().isBlank() ? "call_" + turn + "_" + position : call.id();
                position++;
                String arguments = call.arguments() == null ? "" : call.arguments();
                refs.add(new ToolCallRef(id, call.name(), arguments, ""));
                results.add(ChatMessage.newBuilder()
                        .setRole(Role.TOOL)
                        .setToolCallId(id)
                        .setContent(execute(call.name(), arguments))
                        .build());
                toolCalls++;
            }
            messages.add(ChatMessage.newBuilder()
                    .setRole(Role.ASSISTANT)
                    .setContent(response.content())
                    .setToolCalls(refs)
                    .setToolCallId(null)
                    .build());
            messages.addAll(results);
        }
        return new JobOutcome(
                userMessage, false, spec.getMaxTurns(), toolCalls, "max turns used", start, System.nanoTime());
    }

    /** Executes a call in this thread; failures read as the turn assembler words them. */
    private String execute(String name, String arguments) {
        Tool tool = tools.find(name).orElse(null);
        if (tool == null) {
            return "ERROR (ERROR): no tool named '" + name + "'";
        }
        try {
            JsonNode args = arguments.isBlank() ? JSON.createObjectNode() : JSON.readTree(arguments);
            String output = tool.execute(
                    args, new ToolContext("raw", "raw", Instant.now().plusSeconds(60)));
            return output == null ? "" : output;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "ERROR (ERROR): interrupted";
        } catch (Exception e) {
            return "ERROR (ERROR): tool '" + name + "' failed: " + e;
        }
    }

    private static String finalAnswerProblem(ChatResponse response) {
        if ("length".equals(response.finishReason())) {
            return "answer cut at max_tokens";
        }
        try {
            JsonNode answer = JSON.readTree(response.content() == null ? "" : response.content());
            return answer != null && answer.isObject() ? null : "answer is not a JSON object";
        } catch (Exception e) {
            return "answer is not JSON";
        }
    }
}
