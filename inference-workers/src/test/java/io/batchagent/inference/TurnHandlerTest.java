package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ChatMessage;
import io.batchagent.events.CompactionMode;
import io.batchagent.events.CompactionPolicy;
import io.batchagent.events.DeadLetter;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.events.Role;
import io.batchagent.events.ToolCallRef;
import io.batchagent.events.ToolRequest;
import io.batchagent.events.ToolResponse;
import io.batchagent.events.ToolStatus;
import io.batchagent.schemas.CallHash;
import io.batchagent.schemas.JobHeaders;
import io.batchagent.schemas.Topics;
import io.batchagent.schemas.Topics.Topic;
import io.batchagent.schemas.serde.SchemaRegistryUnavailableException;
import io.batchagent.worker.RetryingSender;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.NotEnoughReplicasException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/** The per-turn logic, with a scripted engine and a MockProducer. */
class TurnHandlerTest {

    private static final long NOW = 50_000;
    private static final Topics TOPICS = Fixtures.TOPICS;

    private final BatchSpec spec = Fixtures.spec("batch-1");
    private final ScriptedEngineClient engine = new ScriptedEngineClient();
    private final MockProducer<String, byte[]> producer =
            new MockProducer<>(true, null, new StringSerializer(), new ByteArraySerializer());
    private final TurnHandler.Counters counters = new TurnHandler.Counters();
    private BatchSpecLookup specs = batchId -> batchId.equals(spec.getBatchId())
            ? CompletableFuture.completedFuture(spec)
            : CompletableFuture.failedFuture(new TimeoutException("no BatchSpec for batch '" + batchId + "' arrived"));

    @Test
    void shouldPublishToolRequestsKeyedByCallHashAndTheAgentsWait() {
        // Given the model asks for two tools, its arguments in arbitrary key order and spacing
        engine.answerAll(ScriptedEngineClient.toolCalls(
                new RequestedToolCall("call_a", "web_search", "{ \"query\": \"Lyon population\" }"),
                new RequestedToolCall("call_b", "fetch_url", "{\"url\":\"https://insee.fr\"}")));

        // When
        handle(turn("job-1", 1, 49_000));

        // Then one ToolRequest per call, keyed by the hash of its canonical arguments
        String searchHash = CallHash.ofCall(spec.getTools().get(0), "{\"query\":\"Lyon population\"}");
        String fetchHash = CallHash.ofCall(spec.getTools().get(1), "{\"url\":\"https://insee.fr\"}");
        List<ProducerRecord<String, byte[]>> requests = sent(TOPICS.toolRequests());
        assertThat(requests).extracting(ProducerRecord::key).containsExactly(searchHash, fetchHash);
        ToolRequest search = decode(TOPICS.toolRequests(), requests.get(0));
        assertThat(search.getArgumentsJson()).isEqualTo("{\"query\":\"Lyon population\"}");
        assertThat(search.getTool()).isEqualTo(spec.getTools().get(0));
        assertThat(search.getJobId()).isEqualTo("job-1");
        assertThat(search.getCallId()).isEqualTo("call_a");
        assertThat(search.getTurn()).isEqualTo(1);
        assertThat(search.getRequestedAtMs()).isEqualTo(NOW);

        // And one waits record, keyed by job id, listing every call with its hash
        List<ProducerRecord<String, byte[]>> waits = sent(TOPICS.agentWaits());
        assertThat(waits).extracting(ProducerRecord::key).containsExactly("job-1");
        AgentTurn waiting = decode(TOPICS.agentWaits(), waits.get(0));
        assertThat(waiting.getPendingCalls())
                .containsExactly(
                        new ToolCallRef("call_a", "web_search", "{ \"query\": \"Lyon population\" }", searchHash),
                        new ToolCallRef("call_b", "fetch_url", "{\"url\":\"https://insee.fr\"}", fetchHash));
        assertThat(waiting.getMessages()).hasSize(2);
        assertThat(waiting.getMessages().get(1).getRole()).isEqualTo(Role.ASSISTANT);
        assertThat(waiting.getMessages().get(1).getToolCalls()).isEqualTo(waiting.getPendingCalls());
        assertThat(waiting.getTurn()).isEqualTo(1);
        assertThat(waiting.getToolCallsRequested()).isEqualTo(2);
        assertThat(waiting.getEmittedAtMs()).isEqualTo(NOW);
        assertThat(waiting.getUsage().getPromptTokens()).isEqualTo(100);
        assertThat(waiting.getUsage().getCachedPromptTokens()).isEqualTo(80);
        assertThat(waiting.getUsage().getModelCalls()).isEqualTo(1);
        assertThat(waiting.getTimings().getQueuedMs()).isEqualTo(1_000);
        assertThat(waiting.getTimings().getModelMs()).isEqualTo(40);
        assertThat(waiting.getTimings().getFirstTokenMs()).isEqualTo(15);
        assertThat(Fixtures.finalResults(producer.history())).isEmpty();
        assertThat(counters.toolRequests.get()).isEqualTo(2);
    }

    @Test
    void shouldSendOnlyWhatTheModelCallAddedWhenTheAssemblerHoldsTheConversation() {
        // Given a continuation whose seven messages the turn assembler holds, and a model that asks for a tool
        engine.answerAll(
                ScriptedEngineClient.toolCalls(new RequestedToolCall("call_9", "web_search", "{\"query\":\"more\"}")));
        AgentTurn continuing = Fixtures.turn("job-1", "batch-1", 4, longConversation(3), NOW);
        continuing.setStoredMessages(7);

        // When
        handle(continuing);

        // Then the engine saw the whole conversation, and the waits record carries only the new assistant message
        assertThat(engine.requests().get(0).prompt().messages()).hasSize(7);
        AgentTurn waiting =
                decode(TOPICS.agentWaits(), sent(TOPICS.agentWaits()).get(0));
        assertThat(waiting.getStoredMessages()).isEqualTo(7);
        assertThat(waiting.getMessages()).singleElement().satisfies(added -> {
            assertThat(added.getRole()).isEqualTo(Role.ASSISTANT);
            assertThat(added.getToolCalls()).extracting(ToolCallRef::getId).containsExactly("call_9");
        });
    }

    @Test
    void shouldSendTheFinalResultToTheTurnAssemblerAsThisTurnsOutcomeWithItsAttempt() {
        engine.answerAll(ScriptedEngineClient.answer("{\"city\": \"Lyon\", \"population\": 522250}"));
        AgentTurn retried =
                AgentTurn.newBuilder(turn("job-a", 2, NOW)).setAttempt(3).build();

        handle(retried);

        assertThat(sent(TOPICS.results())).isEmpty();
        List<ProducerRecord<String, byte[]>> waits = sent(TOPICS.agentWaits());
        assertThat(waits).extracting(ProducerRecord::key).containsExactly("job-a");
        AgentTurn outcome = decode(TOPICS.agentWaits(), waits.get(0));
        assertThat(outcome.getTurn()).isEqualTo(2);
        assertThat(outcome.getAttempt()).isEqualTo(3);
        assertThat(outcome.getMessages()).isEmpty();
        assertThat(outcome.getPendingCalls()).isEmpty();
        assertThat(outcome.getFinalResult().getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(outcome.getFinalResult().getAttempt()).isEqualTo(3);
        assertThat(outcome.getFinalResult().getTurns()).isEqualTo(2);
    }

    @Test
    void shouldStampTheTurnsAttemptOnItsToolRequestsErrorResponsesAndWait() {
        engine.answerAll(ScriptedEngineClient.toolCalls(
                new RequestedToolCall("call_a", "web_search", "{\"query\":\"x\"}"),
                new RequestedToolCall("call_b", "no_such_tool", "{}")));

        handle(AgentTurn.newBuilder(turn("job-a", 1, NOW)).setAttempt(2).build());

        assertThat(decode(TOPICS.toolRequests(), sent(TOPICS.toolRequests()).get(0))
                        .getAttempt())
                .isEqualTo(2);
        assertThat(decode(TOPICS.toolResponses(), sent(TOPICS.toolResponses()).get(0))
                        .getAttempt())
                .isEqualTo(2);
        assertThat(decode(TOPICS.agentWaits(), sent(TOPICS.agentWaits()).get(0)).getAttempt())
                .isEqualTo(2);
    }

    @Test
    void shouldGiveEachRequestToANonCoalescingToolItsOwnCallHash() {
        spec.getTools().get(0).setCoalesce(false);
        engine.answerAll(
                ScriptedEngineClient.toolCalls(new RequestedToolCall("call_a", "web_search", "{\"query\":\"same\"}")));

        handle(turn("job-n", 1, NOW));

        ToolRequest request =
                decode(TOPICS.toolRequests(), sent(TOPICS.toolRequests()).get(0));
        assertThat(request.getCallHash())
                .isNotEqualTo(CallHash.ofCall(spec.getTools().get(0), "{\"query\":\"same\"}"))
                .isEqualTo(CallHash.uncoalesced("web_search", "{\"query\":\"same\"}", "job-n", 1, "call_a"));
        assertThat(sent(TOPICS.toolRequests()).get(0).key()).isEqualTo(request.getCallHash());
    }

    @Test
    void shouldSendTheSharedPrefixAndTheAgentsMessagesToTheEngine() {
        AgentTurn turn = turn("job-2", 1, NOW);

        handle(turn);

        assertThat(engine.requests()).hasSize(1);
        ChatRequest request = engine.requests().get(0);
        assertThat(request.body()).isNull();
        assertThat(request.prompt().spec()).isEqualTo(spec);
        assertThat(request.prompt().messages()).isEqualTo(turn.getMessages());
        assertThat(request.prompt().stream()).isTrue();
        assertThat(request.prompt().hints().priority()).isEqualTo(SchedulingHints.NEW_AGENT);
        assertThat(request.prompt().hints().moreTurnsPossible()).isTrue();
        // A generic OpenAI-compatible engine gets exactly the original layout.
        assertThat(OpenAiDialect.GENERIC.render(request.prompt(), EngineCapabilities.unknown()))
                .isEqualTo(SharedPrefix.of(spec).render(turn.getMessages()));
        assertThat(request.model()).isEqualTo("qwen2.5-32b");
        assertThat(request.turn()).isEqualTo(1);
    }

    @Test
    void shouldAnswerAnUndeclaredToolWithAnErrorNamingTheAllowedTools() {
        engine.answerAll(ScriptedEngineClient.toolCalls(new RequestedToolCall("call_x", "shell", "{\"cmd\":\"ls\"}")));

        handle(turn("job-3", 2, NOW));

        assertThat(sent(TOPICS.toolRequests())).isEmpty();
        List<ProducerRecord<String, byte[]>> responses = sent(TOPICS.toolResponses());
        assertThat(responses).extracting(ProducerRecord::key).containsExactly("job-3");
        ToolResponse response = decode(TOPICS.toolResponses(), responses.get(0));
        assertThat(response.getCallId()).isEqualTo("call_x");
        assertThat(response.getTurn()).isEqualTo(2);
        assertThat(response.getResult().getStatus()).isEqualTo(ToolStatus.ERROR);
        assertThat(response.getResult().getExecuted()).isFalse();
        assertThat(response.getResult().getOutput())
                .isEqualTo("tool 'shell' is not available; this batch allows: web_search, fetch_url");
        AgentTurn waiting =
                decode(TOPICS.agentWaits(), sent(TOPICS.agentWaits()).get(0));
        assertThat(waiting.getPendingCalls()).extracting(ToolCallRef::getId).containsExactly("call_x");
    }

    @Test
    void shouldAnswerArgumentsThatAreNotJsonWithAnError() {
        engine.answerAll(ScriptedEngineClient.toolCalls(
                new RequestedToolCall("call_ok", "web_search", "{\"query\":\"a\"}"),
                new RequestedToolCall("call_bad", "web_search", "{\"query\": \"Lyon")));

        handle(turn("job-4", 1, NOW));

        assertThat(sent(TOPICS.toolRequests())).hasSize(1);
        ToolResponse error =
                decode(TOPICS.toolResponses(), sent(TOPICS.toolResponses()).get(0));
        assertThat(error.getCallId()).isEqualTo("call_bad");
        assertThat(error.getResult().getStatus()).isEqualTo(ToolStatus.ERROR);
        assertThat(error.getResult().getOutput()).startsWith("arguments are not valid JSON: ");
        AgentTurn waiting =
                decode(TOPICS.agentWaits(), sent(TOPICS.agentWaits()).get(0));
        assertThat(waiting.getPendingCalls())
                .extracting(ToolCallRef::getCallHash)
                .containsExactly(CallHash.ofCall(spec.getTools().get(0), "{\"query\":\"a\"}"), "");
    }

    @Test
    void shouldSucceedWithAValidFencedJsonAnswer() {
        engine.answerAll(ScriptedEngineClient.answer(
                "Here is what I found:\n```json\n{\"city\": \"Lyon\", \"population\": 522250}\n```\nDone."));
        AgentTurn turn = AgentTurn.newBuilder(turn("job-5", 3, NOW))
                .setToolCallsRequested(4)
                .build();

        handle(turn);

        AgentResult result = onlyResult("job-5");
        assertThat(result.getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(result.getOutputJson()).isEqualTo("{\"city\":\"Lyon\",\"population\":522250}");
        assertThat(result.getError()).isNull();
        assertThat(result.getTurns()).isEqualTo(3);
        assertThat(result.getIndex()).isEqualTo(7);
        assertThat(result.getBatchId()).isEqualTo("batch-1");
        assertThat(result.getToolCallsRequested()).isEqualTo(4);
        assertThat(result.getTimings().getTotalMs()).isEqualTo(NOW - 1_000);
        assertThat(result.getTimings().getFirstTokenMs())
                .as("set on the first call only")
                .isNull();
        assertThat(result.getFinishedAtMs()).isEqualTo(NOW);
        assertThat(result.getUsage().getCompletionTokens()).isEqualTo(10);
    }

    @Test
    void shouldFailWithInvalidOutputListingTheSchemaViolations() {
        String content = "{\"city\": \"Lyon\", \"population\": \"about half a million\"}";
        engine.answerAll(ScriptedEngineClient.answer(content));
        spec.setMaxRepairs(0);

        handle(turn("job-6", 1, NOW));

        AgentResult result = onlyResult("job-6");
        assertThat(result.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.INVALID_OUTPUT);
        assertThat(result.getError().getMessage())
                .startsWith("the answer does not match the output schema: ")
                .contains("population")
                .contains("integer");
        assertThat(result.getRawOutput()).isEqualTo(content);
    }

    @Test
    void shouldSayTheAnswerWasCutWhenItStoppedAtMaxTokens() {
        engine.answerAll(ChatResponse.answer(
                "{\"city\": \"Lyon\", \"popul",
                List.of(),
                "length",
                TokenUsage.ZERO,
                java.util.OptionalLong.empty(),
                5));
        spec.setMaxRepairs(0);

        handle(turn("job-7", 1, NOW));

        AgentResult result = onlyResult("job-7");
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.INVALID_OUTPUT);
        assertThat(result.getError().getMessage()).contains("cut at max_tokens (512)");
        assertThat(result.getRawOutput()).isEqualTo("{\"city\": \"Lyon\", \"popul");
    }

    @Test
    void shouldFailWithEngineErrorCarryingTheEnginesMessage() {
        engine.answerAll(ChatResponse.failed(
                new EngineFailure(
                        OptionalInt.of(400),
                        "engine answered HTTP 400 Bad Request: unknown sampling parameter 'min_q'",
                        false),
                12));

        handle(turn("job-8", 1, NOW));

        AgentResult result = onlyResult("job-8");
        assertThat(result.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.ENGINE_ERROR);
        assertThat(result.getError().getMessage()).contains("HTTP 400").contains("min_q");
        assertThat(result.getUsage().getModelCalls()).isEqualTo(1);
        assertThat(counters.engineFailures.get()).isEqualTo(1);
    }

    @Test
    void shouldFailEngineUnavailableWhenTheEngineStayedDownPastTheOutageBudget() {
        engine.answerAll(ChatResponse.failed(
                EngineFailure.unavailable(
                        java.time.Duration.ofMinutes(10),
                        EngineFailure.http(
                                503, "engine answered HTTP 503 Service Unavailable: simulated outage", true)),
                600_000));

        handle(turn("job-9", 1, NOW));

        AgentResult result = onlyResult("job-9");
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.ENGINE_UNAVAILABLE);
        assertThat(result.getError().getMessage())
                .contains("outage budget of 600 s")
                .contains("simulated outage");
    }

    @Test
    void shouldFailContextExhaustedWhenTheEngineRefusesThePromptAsLongerThanItsContext() {
        engine.answerAll(ChatResponse.failed(
                new EngineFailure(
                        OptionalInt.of(400),
                        "engine answered HTTP 400 Bad Request: "
                                + "This model's maximum context length is 32768 tokens. However, your request has 40000 input tokens. "
                                + "Please reduce the length of the input messages.",
                        false),
                12));

        handle(turn("job-8", 1, NOW));

        AgentResult result = onlyResult("job-8");
        assertThat(result.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.CONTEXT_EXHAUSTED);
        assertThat(result.getError().getMessage())
                .startsWith("the engine refused the prompt of turn 1 as longer than the model's context window (~")
                .contains("bytes of conversation, contextTokens unknown, compaction NONE)")
                .contains("However, your request has 40000 input tokens");
    }

    @Test
    void shouldFailWithUnknownBatchNamingIt() {
        handle(turn("job-9", "batch-nobody-declared", 1));

        AgentResult result = onlyResult("job-9");
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.UNKNOWN_BATCH);
        assertThat(result.getError().getMessage()).contains("'batch-nobody-declared'");
        assertThat(engine.requests()).isEmpty();
    }

    @Test
    void shouldFailEveryTurnOfABatchWhoseSchemaIsNotJson() {
        BatchSpec broken =
                BatchSpec.newBuilder(spec).setOutputSchemaJson("{\"type\": ").build();
        specs = batchId -> CompletableFuture.completedFuture(broken);

        handle(turn("job-10", 1, NOW));

        AgentResult result = onlyResult("job-10");
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.INVALID_INPUT);
        assertThat(result.getError().getMessage())
                .contains("batch 'batch-1'")
                .contains("outputSchemaJson is not valid JSON");
        assertThat(engine.requests()).isEmpty();
    }

    @Test
    void shouldDeadLetterAnUndecodableRecordAndFailItsJob() {
        byte[] garbage = "not avro".getBytes(StandardCharsets.UTF_8);
        Decoded<AgentTurn> decoded = Decoded.lenient(
                        TOPICS.agentTurns().valueSerde().deserializer())
                .deserialize(TOPICS.agentTurns().name(), garbage);

        handler()
                .handle(new ConsumerRecord<>(TOPICS.agentTurns().name(), 2, 41L, "job-11", decoded))
                .join();

        List<ProducerRecord<String, byte[]>> letters = sent(TOPICS.deadLetters());
        assertThat(letters).hasSize(1);
        DeadLetter letter = decode(TOPICS.deadLetters(), letters.get(0));
        assertThat(letter.getStage()).isEqualTo("inference");
        assertThat(letter.getTopic()).isEqualTo(TOPICS.agentTurns().name());
        assertThat(letter.getPartition()).isEqualTo(2);
        assertThat(letter.getOffset()).isEqualTo(41L);
        assertThat(StandardCharsets.UTF_8.decode(letter.getKey()).toString()).isEqualTo("job-11");
        assertThat(letter.getValue().remaining()).isEqualTo(garbage.length);
        assertThat(letter.getReason()).contains("not in the Confluent wire format");
        assertThat(new String(
                        letters.get(0)
                                .headers()
                                .lastHeader(TurnHandler.HEADER_REASON)
                                .value(),
                        StandardCharsets.UTF_8))
                .isEqualTo(letter.getReason());
        AgentResult result = onlyResult("job-11");
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.UNDECODABLE_RECORD);
    }

    @Test
    void shouldFailAnUndecodableTurnWithTheBatchIdItsHeadersName() {
        Decoded<AgentTurn> decoded = Decoded.lenient(
                        TOPICS.agentTurns().valueSerde().deserializer())
                .deserialize(TOPICS.agentTurns().name(), "not avro".getBytes(StandardCharsets.UTF_8));
        RecordHeaders headers = new RecordHeaders();
        headers.add(JobHeaders.JOB_ID, "map-000004".getBytes(StandardCharsets.UTF_8));
        headers.add(JobHeaders.BATCH_ID, "map".getBytes(StandardCharsets.UTF_8));

        handler()
                .handle(new ConsumerRecord<>(
                        TOPICS.agentTurns().name(),
                        0,
                        3L,
                        0L,
                        TimestampType.CREATE_TIME,
                        10,
                        8,
                        "map-000004",
                        decoded,
                        headers,
                        Optional.empty()))
                .join();

        AgentResult result = onlyResult("map-000004");
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.UNDECODABLE_RECORD);
        assertThat(result.getBatchId()).isEqualTo("map");
        assertThat(sent(TOPICS.results())
                        .get(0)
                        .headers()
                        .lastHeader(JobHeaders.BATCH_ID)
                        .value())
                .isEqualTo("map".getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void shouldDecodeATurnAgainAfterARegistryFaultInsteadOfDeadLetteringIt() {
        AgentTurn turn = turn("job-r", 1, NOW);
        byte[] bytes = TOPICS.agentTurns()
                .valueSerde()
                .serializer()
                .serialize(TOPICS.agentTurns().name(), turn);
        Decoded<AgentTurn> failedAtPoll = new Decoded<>(
                null,
                bytes,
                new SchemaRegistryUnavailableException("schema registry could not fetch schema id 3: HTTP 503", null));

        handler()
                .handle(new ConsumerRecord<>(TOPICS.agentTurns().name(), 0, 5L, "job-r", failedAtPoll))
                .join();

        assertThat(sent(TOPICS.deadLetters())).isEmpty();
        assertThat(engine.requests()).hasSize(1);
        assertThat(onlyResult("job-r").getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(counters.turnsHandled.get()).isEqualTo(1);
    }

    @Test
    void shouldNameTheJobAndBatchInTheHeadersOfEveryToolRequest() {
        engine.answerAll(
                ScriptedEngineClient.toolCalls(new RequestedToolCall("c1", "web_search", "{\"query\":\"q\"}")));

        handle(turn("job-h", 1, NOW));

        ProducerRecord<String, byte[]> request = sent(TOPICS.toolRequests()).get(0);
        assertThat(request.headers().lastHeader(JobHeaders.JOB_ID).value())
                .isEqualTo("job-h".getBytes(StandardCharsets.UTF_8));
        assertThat(request.headers().lastHeader(JobHeaders.BATCH_ID).value())
                .isEqualTo("batch-1".getBytes(StandardCharsets.UTF_8));
        assertThat(sent(TOPICS.agentWaits()).get(0).headers().lastHeader(JobHeaders.BATCH_ID))
                .isNotNull();
    }

    @Test
    void shouldCompleteOnlyWhenEveryProducedRecordIsAcknowledged() {
        MockProducer<String, byte[]> manual =
                new MockProducer<>(false, null, new StringSerializer(), new ByteArraySerializer());
        engine.answerAll(ScriptedEngineClient.toolCalls(
                new RequestedToolCall("c1", "web_search", "{\"query\":\"a\"}"),
                new RequestedToolCall("c2", "web_search", "{\"query\":\"b\"}")));
        TurnHandler handler = new TurnHandler(TOPICS, specs, engine, manual, Runnable::run, () -> NOW, counters);

        CompletableFuture<Void> stage = handler.handle(record(turn("job-12", 1, NOW)));

        assertThat(manual.history()).hasSize(3);
        assertThat(manual.completeNext()).isTrue();
        assertThat(manual.completeNext()).isTrue();
        assertThat(stage).isNotDone();
        assertThat(manual.completeNext()).isTrue();
        assertThat(stage).succeedsWithin(Duration.ofSeconds(1));
    }

    @Test
    void shouldRetryATransientSendFailureWithoutCallingTheModelAgain() {
        // Given a producer whose first send of the turn's result fails with a retriable error
        MockProducer<String, byte[]> manual =
                new MockProducer<>(false, null, new StringSerializer(), new ByteArraySerializer());
        TurnHandler handler = manualHandler(manual);
        CompletableFuture<Void> stage = handler.handle(record(turn("job-13", 1, NOW)));
        manual.errorNext(new NotEnoughReplicasException("not enough in-sync replicas"));

        // When the retry is acknowledged
        await().atMost(Duration.ofSeconds(10)).until(() -> manual.history().size() == 2);
        assertThat(manual.completeNext()).isTrue();

        // Then the turn is done, the same result was sent again, and the model was called once
        assertThat(stage).succeedsWithin(Duration.ofSeconds(5));
        assertThat(engine.requests()).hasSize(1);
        // (the result is offered to the turn assembler on agent-waits, which decides the turn's outcome once)
        assertThat(manual.history())
                .extracting(ProducerRecord::topic)
                .containsOnly(TOPICS.agentWaits().name());
        assertThat(manual.history().get(1).value())
                .isEqualTo(manual.history().get(0).value());
        assertThat(counters.outcomesReplaced.get()).isZero();
    }

    @Test
    void shouldEndTheJobRecordTooLargeWhenItsOutcomeIsOverTheSizeLimit() {
        // Given the model asks for a tool, and the producer refuses the waiting record as too large
        MockProducer<String, byte[]> manual =
                new MockProducer<>(false, null, new StringSerializer(), new ByteArraySerializer());
        engine.answerAll(
                ScriptedEngineClient.toolCalls(new RequestedToolCall("c1", "web_search", "{\"query\":\"a\"}")));
        TurnHandler handler = manualHandler(manual);
        CompletableFuture<Void> stage = handler.handle(record(turn("job-big", 2, NOW)));
        manual.errorNext(
                new RecordTooLargeException("The message is 2000000 bytes when serialized which is larger than "
                        + "1048576, which is the value of the max.request.size configuration."));

        // When the FAILED result standing for it is acknowledged
        await().atMost(Duration.ofSeconds(10))
                .until(() -> Fixtures.finalResults(manual.history()).size() == 1);
        manual.completeNext(); // the tool request
        manual.completeNext(); // the FAILED result

        // Then the job ended FAILED with RECORD_TOO_LARGE, naming the topic, the size and the limit (the
        // result goes to the turn assembler on agent-waits, as a small record with no conversation)
        assertThat(stage).succeedsWithin(Duration.ofSeconds(5));
        AgentResult result = Fixtures.finalResults(manual.history()).get(0);
        assertThat(result.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.RECORD_TOO_LARGE);
        assertThat(result.getError().getMessage())
                .contains(TOPICS.agentWaits().name())
                .contains("turn 2")
                .contains("bytes of key and value")
                .contains("max.request.size");
        assertThat(result.getTurns()).isEqualTo(2);
        assertThat(result.getRawOutput()).isNull();
        assertThat(result.getUsage().getModelCalls()).isEqualTo(1);
        assertThat(engine.requests()).hasSize(1);
        assertThat(counters.outcomesReplaced.get()).isEqualTo(1);
    }

    @Test
    void shouldFailTheStageWhenNeitherTheOutcomeNorItsFailedResultCanBePublished() {
        MockProducer<String, byte[]> manual =
                new MockProducer<>(false, null, new StringSerializer(), new ByteArraySerializer());
        TurnHandler handler = manualHandler(manual);

        CompletableFuture<Void> stage = handler.handle(record(turn("job-13", 1, NOW)));
        manual.errorNext(new KafkaException("broker gone"));
        await().atMost(Duration.ofSeconds(10)).until(() -> manual.history().size() == 2);
        manual.errorNext(new KafkaException("broker still gone"));

        assertThat(stage)
                .failsWithin(Duration.ofSeconds(5))
                .withThrowableThat()
                .havingCause()
                .isInstanceOf(TurnHandler.UnpublishedOutcomeException.class)
                .withMessageContaining("job job-13, turn 1")
                .withMessageContaining("broker still gone");
        assertThat(engine.requests()).hasSize(1);
    }

    @Test
    void shouldPublishNothingForATurnAbandonedWhileItWaitsForItsSpec() {
        // Given a turn waiting for a spec that is not known yet
        CompletableFuture<BatchSpec> pendingSpec = new CompletableFuture<>();
        specs = batchId -> pendingSpec;
        TurnHandler handler = handler();
        CompletableFuture<Void> stage = handler.handle(record(turn("job-w", 1, NOW)));

        // When the worker abandons its turns, and the spec lookup stops
        handler.abandon();
        pendingSpec.completeExceptionally(
                new BatchSpecLookup.UnavailableException("the batch spec cache closed", null));

        // Then nothing is published (no UNKNOWN_BATCH), and the stage says the turn was abandoned
        assertThat(stage)
                .failsWithin(Duration.ofSeconds(5))
                .withThrowableThat()
                .havingCause()
                .isInstanceOf(TurnHandler.AbandonedTurnException.class);
        assertThat(producer.history()).isEmpty();
        assertThat(engine.requests()).isEmpty();
    }

    @Test
    void shouldNotCallABatchUnknownWhenTheSpecLookupHasStopped() {
        specs = batchId -> CompletableFuture.failedFuture(
                new BatchSpecLookup.UnavailableException("the batch spec cache stopped: reader failed", null));

        CompletableFuture<Void> stage = handler().handle(record(turn("job-s", 1, NOW)));

        assertThat(stage)
                .failsWithin(Duration.ofSeconds(5))
                .withThrowableThat()
                .havingCause()
                .isInstanceOf(TurnHandler.AbandonedTurnException.class)
                .withMessageContaining("reader failed");
        assertThat(producer.history()).isEmpty();
    }

    @Test
    void shouldEndTheJobFailedWhenHandlingItsTurnFailsUnexpectedly() {
        engine.answerAllWith(request -> CompletableFuture.failedFuture(new IllegalStateException("a bug in a client")));

        handle(turn("job-bug", 1, NOW));

        AgentResult result = onlyResult("job-bug");
        assertThat(result.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.OTHER);
        assertThat(result.getError().getMessage()).contains("turn 1").contains("a bug in a client");
    }

    @Test
    void shouldAskForARepairWithTheExactValidationErrorsInsteadOfFailing() {
        String content = "{\"city\": \"Lyon\", \"population\": \"about half a million\"}";
        engine.answerAll(ScriptedEngineClient.answer(content));

        handle(turn("job-r", 1, NOW));

        assertThat(Fixtures.finalResults(producer.history())).isEmpty();
        assertThat(sent(TOPICS.agentTurns())).isEmpty();
        // The repair is this turn's outcome: the turn assembler continues it as turn 2, once.
        List<ProducerRecord<String, byte[]>> waits = sent(TOPICS.agentWaits());
        assertThat(waits).extracting(ProducerRecord::key).containsExactly("job-r");
        AgentTurn repair = decode(TOPICS.agentWaits(), waits.get(0));
        assertThat(repair.getTurn()).isEqualTo(1);
        assertThat(repair.getPendingCalls()).isEmpty();
        assertThat(repair.getFinalResult()).isNull();
        assertThat(repair.getRepairs()).isEqualTo(1);
        assertThat(repair.getUsage().getModelCalls()).isEqualTo(1);
        List<io.batchagent.events.ChatMessage> messages = repair.getMessages();
        assertThat(messages.get(messages.size() - 2).getRole()).isEqualTo(Role.ASSISTANT);
        assertThat(messages.get(messages.size() - 2).getContent()).isEqualTo(content);
        assertThat(messages.get(messages.size() - 1).getRole()).isEqualTo(Role.USER);
        assertThat(messages.get(messages.size() - 1).getContent())
                .startsWith("Your answer is not valid: the answer does not match the output schema: ")
                .contains("population")
                .contains("integer");
    }

    @Test
    void shouldFailWithTheErrorsAndTheRawAnswerWhenRepairsAreExhausted() {
        String content = "{\"city\": \"Lyon\", \"population\": \"about half a million\"}";
        engine.answerAll(ScriptedEngineClient.answer(content));
        AgentTurn lastChance =
                AgentTurn.newBuilder(turn("job-x", 3, NOW)).setRepairs(2).build();

        handle(lastChance);

        AgentResult result = onlyResult("job-x");
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.INVALID_OUTPUT);
        assertThat(result.getError().getMessage())
                .contains("population")
                .contains("still invalid after 2 repair turns");
        assertThat(result.getRawOutput()).isEqualTo(content);
        assertThat(sent(TOPICS.agentWaits())).hasSize(1);
        assertThat(sent(TOPICS.agentTurns())).isEmpty();
    }

    @Test
    void shouldEndACancelledBatchsTurnWithoutCallingTheEngine() {
        spec.setCancelled(true);

        handle(turn("job-c", 2, NOW));

        AgentResult result = onlyResult("job-c");
        assertThat(result.getStatus()).isEqualTo(JobStatus.CANCELLED);
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.CANCELLED);
        assertThat(engine.requests()).isEmpty();
    }

    @Test
    void shouldFailATurnPastTheAgentDeadlineWithoutCallingTheEngine() {
        spec.setDeadlineMs(1_000);
        AgentTurn late = AgentTurn.newBuilder(turn("job-d", 2, NOW))
                .setSubmittedAtMs(NOW - 5_000)
                .build();

        handle(late);

        AgentResult result = onlyResult("job-d");
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.TIMEOUT);
        assertThat(result.getError().getMessage())
                .contains("agent deadline of 1000 ms")
                .contains("turn 2");
        assertThat(engine.requests()).isEmpty();
    }

    @Test
    void shouldNameThePerTurnTimeoutWhenTheEngineCallTimesOut() {
        engine.answerAll(ChatResponse.failed(
                new EngineFailure(OptionalInt.empty(), EngineFailure.TIMEOUT_MESSAGE + "600000 ms", false), 600_000));

        handle(turn("job-t", 1, NOW));

        AgentResult result = onlyResult("job-t");
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.TIMEOUT);
        assertThat(result.getError().getMessage())
                .startsWith("per-turn timeout: no complete answer from the engine within 600000 ms");
    }

    @Test
    void shouldSendTheCompactedConversationAndCarryItAndTheCompactionToTheResult() {
        spec.setContextTokens(16_384);
        spec.setCompaction(
                CompactionPolicy.newBuilder().setMode(CompactionMode.SUMMARIZE).build());
        engine.answerAllWith(request -> CompletableFuture.completedFuture(
                lastMessage(request).startsWith(ConversationCompactor.SUMMARY_INSTRUCTION)
                        ? ScriptedEngineClient.answer("Lyon has 522,250 inhabitants (INSEE).")
                        : ScriptedEngineClient.answer("{\"city\":\"Lyon\",\"population\":522250}")));

        handle(Fixtures.turn("job-long", "batch-1", 7, longConversation(6), NOW));

        assertThat(engine.requests()).hasSize(2);
        List<ChatMessage> sent = engine.requests().get(1).prompt().messages();
        assertThat(sent).hasSize(13);
        assertThat(sent.get(2).getContent()).startsWith("[compacted: summary of 4 earlier tool results]");
        AgentResult result = onlyResult("job-long");
        assertThat(result.getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(result.getCompactions()).singleElement().satisfies(compaction -> {
            assertThat(compaction.getMode()).isEqualTo(CompactionMode.SUMMARIZE);
            assertThat(compaction.getTurn()).isEqualTo(7);
            assertThat(compaction.getTurnsCompacted()).isEqualTo(4);
            assertThat(compaction.getTokensAfter()).isLessThan(compaction.getTokensBefore());
        });
        // The summary call is the job's: its usage and its model call count.
        assertThat(result.getUsage().getModelCalls()).isEqualTo(2);
        assertThat(result.getUsage().getPromptTokens()).isEqualTo(200);
        assertThat(counters.compactions.get()).isEqualTo(1);
    }

    @Test
    void shouldCarryTheTruncatedConversationOnTheWaitingTurn() {
        spec.setContextTokens(16_384);
        spec.setCompaction(CompactionPolicy.newBuilder()
                .setMode(CompactionMode.TRUNCATE)
                .setKeepTurns(1)
                .build());
        engine.answerAll(
                ScriptedEngineClient.toolCalls(new RequestedToolCall("call_7", "web_search", "{\"query\":\"q\"}")));

        handle(Fixtures.turn("job-long", "batch-1", 7, longConversation(6), NOW));

        AgentTurn waiting =
                decode(TOPICS.agentWaits(), sent(TOPICS.agentWaits()).get(0));
        List<ChatMessage> tools = waiting.getMessages().stream()
                .filter(m -> m.getRole() == Role.TOOL)
                .toList();
        assertThat(tools.subList(0, 5))
                .allSatisfy(m -> assertThat(m.getContent()).startsWith("[compacted: "));
        assertThat(tools.get(5).getContent()).hasSize(8192);
        assertThat(waiting.getCompactions())
                .singleElement()
                .satisfies(c -> assertThat(c.getMode()).isEqualTo(CompactionMode.TRUNCATE));
    }

    @Test
    void shouldEndAJobFailedContextExhaustedWithTheSizesWhenCompactionIsOff() {
        spec.setContextTokens(8_192);

        handle(Fixtures.turn("job-long", "batch-1", 7, longConversation(6), NOW));

        AgentResult result = onlyResult("job-long");
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.CONTEXT_EXHAUSTED);
        assertThat(result.getError().getMessage())
                .contains("over the model's 8192-token context window")
                .contains("compaction is off");
        assertThat(engine.requests()).isEmpty();
    }

    @Test
    void shouldCompactAndTryOnceMoreWhenTheEngineRefusesAPromptTheEstimateLetThrough() {
        spec.setCompaction(
                CompactionPolicy.newBuilder().setMode(CompactionMode.TRUNCATE).build());
        ChatResponse refusal = ChatResponse.failed(
                new EngineFailure(
                        OptionalInt.of(400),
                        "engine answered HTTP 400 "
                                + "Bad Request: The input (40000 tokens) is longer than the model's context length (32768 tokens).",
                        false),
                3);
        engine.answerAllWith(request -> CompletableFuture.completedFuture(
                lastMessage(request).startsWith("[compacted: ")
                                || request.prompt().messages().stream()
                                        .anyMatch(m -> m.getContent() != null
                                                && m.getContent().startsWith("[compacted: "))
                        ? ScriptedEngineClient.answer("{\"city\":\"Lyon\",\"population\":522250}")
                        : refusal));

        handle(Fixtures.turn("job-refused", "batch-1", 7, longConversation(6), NOW));

        AgentResult result = onlyResult("job-refused");
        assertThat(result.getStatus()).as(String.valueOf(result.getError())).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(engine.requests()).hasSize(2);
        assertThat(result.getCompactions()).singleElement().satisfies(c -> {
            assertThat(c.getMode()).isEqualTo(CompactionMode.TRUNCATE);
            assertThat(c.getDetail()).startsWith("the engine refused the prompt as over its context window: ");
        });
        assertThat(result.getUsage().getModelCalls())
                .as("the refused call counts")
                .isEqualTo(2);
    }

    @Test
    void shouldEndContextExhaustedWhenTheEngineRefusesEvenTheCompactedPrompt() {
        spec.setCompaction(
                CompactionPolicy.newBuilder().setMode(CompactionMode.TRUNCATE).build());
        engine.answerAll(ChatResponse.failed(
                new EngineFailure(
                        OptionalInt.of(400),
                        "engine answered HTTP 400 Bad Request: "
                                + "This model's maximum context length is 4096 tokens. However, your request has 9000 input tokens.",
                        false),
                3));

        handle(Fixtures.turn("job-refused", "batch-1", 7, longConversation(6), NOW));

        AgentResult result = onlyResult("job-refused");
        assertThat(result.getError().getReason()).isEqualTo(ErrorReason.CONTEXT_EXHAUSTED);
        assertThat(result.getError().getMessage())
                .contains("compaction TRUNCATE")
                .contains("maximum context length is 4096");
        assertThat(engine.requests()).as("one try after compacting, no more").hasSize(2);
    }

    private static String lastMessage(ChatRequest request) {
        List<ChatMessage> messages = request.prompt().messages();
        String content = messages.get(messages.size() - 1).getContent();
        return content == null ? "" : content;
    }

    /** The task, then {@code toolTurns} tool turns with an 8 KB result each. */
    private static List<ChatMessage> longConversation(int toolTurns) {
        List<ChatMessage> messages = new ArrayList<>(List.of(Fixtures.user("Find the population of Lyon.")));
        for (int t = 1; t <= toolTurns; t++) {
            messages.add(ChatMessage.newBuilder()
                    .setRole(Role.ASSISTANT)
                    .setToolCalls(List.of(
                            new ToolCallRef("call_" + t, "web_search", "{\"query\":\"lyon " + t + "\"}", "h" + t)))
                    .build());
            messages.add(ChatMessage.newBuilder()
                    .setRole(Role.TOOL)
                    .setToolCallId("call_" + t)
                    .setContent("x".repeat(8192))
                    .build());
        }
        return messages;
    }

    private TurnHandler handler() {
        return new TurnHandler(TOPICS, specs, engine, producer, Runnable::run, () -> NOW, counters);
    }

    /** A handler over {@code manual}, retrying sends after 1 ms. */
    private TurnHandler manualHandler(MockProducer<String, byte[]> manual) {
        return new TurnHandler(
                TOPICS,
                specs,
                engine,
                manual,
                Runnable::run,
                () -> NOW,
                counters,
                BatchWarmer.disabled(),
                new RetryingSender.Policy(3, Duration.ofMillis(1), Duration.ofMillis(5)));
    }

    private static List<ProducerRecord<String, byte[]>> sentTo(
            MockProducer<String, byte[]> producer, Topic<String, ?> topic) {
        return producer.history().stream()
                .filter(r -> r.topic().equals(topic.name()))
                .toList();
    }

    private void handle(AgentTurn turn) {
        handler().handle(record(turn)).join();
        assertThat(counters.turnsHandled.get()).isEqualTo(1);
    }

    private static ConsumerRecord<String, Decoded<AgentTurn>> record(AgentTurn turn) {
        return new ConsumerRecord<>(
                TOPICS.agentTurns().name(), 0, 0L, turn.getJobId(), new Decoded<>(turn, null, null));
    }

    private static AgentTurn turn(String jobId, int turn, long emittedAtMs) {
        return Fixtures.turn(
                jobId, "batch-1", turn, List.of(Fixtures.user("Find the population of Lyon.")), emittedAtMs);
    }

    private static AgentTurn turn(String jobId, String batchId, int turn) {
        return Fixtures.turn(jobId, batchId, turn, List.of(Fixtures.user("Find the population of Lyon.")), NOW);
    }

    private AgentResult onlyResult(String jobId) {
        List<AgentResult> results = Fixtures.finalResults(producer.history());
        assertThat(results).extracting(AgentResult::getJobId).containsExactly(jobId);
        return results.get(0);
    }

    private List<ProducerRecord<String, byte[]>> sent(Topic<String, ?> topic) {
        return producer.history().stream()
                .filter(r -> r.topic().equals(topic.name()))
                .toList();
    }

    private static <V> V decode(Topic<String, V> topic, ProducerRecord<String, byte[]> record) {
        return topic.valueSerde().deserializer().deserialize(topic.name(), record.value());
    }
}
