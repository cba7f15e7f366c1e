package io.batchagent.bench.harness;

import io.batchagent.events.BatchSpec;
import io.batchagent.inference.ChatRequest;
import io.batchagent.inference.ChatResponse;
import io.batchagent.inference.EngineClient;
import io.batchagent.inference.SharedPrefix;
import java.util.List;

/**
 * The warm-up BatchAgent does before a batch's fan-out (DESIGN, "Prompt layout and warming"): the
 * batch's shared prefix alone, through the same endpoint and chat template the agents use, with
 * max_tokens 1. Done here by the driver until the inference worker does it itself.
 */
public final class Warmup {

    private Warmup() {}

    /** Sends the warm-up request for {@code batch} (not changed) and waits for its answer. */
    public static ChatResponse send(EngineClient engine, BatchSpec batch) {
        BatchSpec spec = BatchSpec.newBuilder()
                .setBatchId(batch.getBatchId()).setModel(batch.getModel()).setSystemPrompt(batch.getSystemPrompt())
                .setTaskTemplate(batch.getTaskTemplate()).setTools(batch.getTools())
                .setOutputSchemaJson(batch.getOutputSchemaJson()).setMaxTurns(batch.getMaxTurns())
                .setTemperature(batch.getTemperature()).setMaxTokens(1).build();
        byte[] body = SharedPrefix.of(spec).render(List.of());
        ChatResponse response = engine.complete(new ChatRequest("warmup", 0, spec.getModel(), body)).join();
        if (response.isFailure()) {
            throw new IllegalStateException("warm-up failed: " + response.failure().message());
        }
        return response;
    }
}
