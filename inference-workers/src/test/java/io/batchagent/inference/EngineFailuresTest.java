package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.batchagent.events.AgentResult;
import io.batchagent.events.AgentTurn;
import io.batchagent.events.BatchSpec;
import io.batchagent.events.ErrorReason;
import io.batchagent.events.JobStatus;
import io.batchagent.schemas.Topics;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import mockwebserver3.MockResponse;
import mockwebserver3.SocketEffect;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Engine failures through the whole worker (consumer loop, turn handler, real client, a local engine
 * misbehaving per job): 429 with Retry-After, 503, a connection dropped mid-stream and a malformed event
 * each end their job SUCCEEDED after a retry or FAILED with the reason; a 4xx that retrying cannot fix
 * fails at once with the engine's message; no other job waits for them and the worker goes on.
 */
class EngineFailuresTest {

    private static final Topics TOPICS = Fixtures.TOPICS;
    private static final Duration PATIENCE = Duration.ofSeconds(30);
    private static final Pattern JOB = Pattern.compile("Population of (job-[a-z0-9-]+)\\?");
    private static final String ANSWER =
            OpenAiChunks.contentStream("{\"city\":\"Lyon\",\"population\":522969}", 120, 96);

    private final TopicPartition partition =
            new TopicPartition(TOPICS.agentTurns().name(), 0);
    private final MockConsumer<String, Decoded<AgentTurn>> consumer = new MockConsumer<>("earliest");
    private final MockProducer<String, byte[]> producer =
            new MockProducer<>(true, null, new StringSerializer(), new ByteArraySerializer());
    private final Deserializer<Decoded<AgentTurn>> lenient =
            Decoded.lenient(TOPICS.agentTurns().valueSerde().deserializer());
    private final BatchSpec spec =
            BatchSpec.newBuilder(Fixtures.spec("batch-f")).setTools(List.of()).build();
    private final Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
    private final Map<String, Long> arrivals = new ConcurrentHashMap<>();
    private final AtomicBoolean othersDoneBeforeRetryAfterElapsed = new AtomicBoolean();
    private FakeEngine engine;
    private OpenAiCompatibleClient client;
    private InferenceWorker worker;

    @AfterEach
    void close() {
        if (worker != null) {
            worker.close();
        }
        if (client != null) {
            client.close();
        }
        if (engine != null) {
            engine.close();
        }
    }

    @Test
    void shouldEndEveryJobSucceededAfterRetryOrFailedWithTheReasonAndKeepTheWorkerGoing() {
        // Given an engine that misbehaves differently for each job
        engine = new FakeEngine(this::answer);
        client = new OpenAiCompatibleClient(
                engine.endpoint(EngineEndpoint.Kind.OPENAI_COMPATIBLE),
                InferenceWorkerConfig.defaults()
                        .withMaxInflight(8)
                        .withEngineTimeout(Duration.ofSeconds(10))
                        .withRetryBackoff(Duration.ofMillis(20)));
        List<String> jobs = List.of("job-429", "job-503", "job-drop", "job-malformed", "job-bad-request", "job-fine");

        // When the worker handles one turn of each
        start(jobs);

        // Then every job has its one final result
        await().atMost(PATIENCE).until(() -> results().size() == jobs.size());
        assertThat(result("job-429").getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(result("job-503").getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(result("job-drop").getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(result("job-fine").getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(attempts.get("job-429").get()).isEqualTo(2);
        assertThat(attempts.get("job-503").get()).isEqualTo(2);
        assertThat(attempts.get("job-drop").get()).isEqualTo(2);

        AgentResult malformed = result("job-malformed");
        assertThat(malformed.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(malformed.getError().getReason()).isEqualTo(ErrorReason.ENGINE_ERROR);
        assertThat(malformed.getError().getMessage()).contains("not JSON").contains("(3 attempts)");
        assertThat(attempts.get("job-malformed").get()).isEqualTo(3);

        AgentResult badRequest = result("job-bad-request");
        assertThat(badRequest.getStatus()).isEqualTo(JobStatus.FAILED);
        assertThat(badRequest.getError().getMessage())
                .contains("HTTP 400")
                .contains("This model's maximum context length is 32768 tokens");
        assertThat(attempts.get("job-bad-request").get()).isEqualTo(1);

        // And the Retry-After was honoured, while the other jobs went on meanwhile
        long waitedMs = TimeUnit.NANOSECONDS.toMillis(arrivals.get("job-429#2") - arrivals.get("job-429#1"));
        assertThat(waitedMs).isGreaterThanOrEqualTo(1_000);
        assertThat(othersDoneBeforeRetryAfterElapsed).isTrue();

        // And the worker is still alive: a later turn is answered
        consumer.schedulePollTask(() -> consumer.addRecord(encoded(turn("job-later"), jobs.size())));
        await().atMost(PATIENCE).until(() -> results().size() == jobs.size() + 1);
        assertThat(result("job-later").getStatus()).isEqualTo(JobStatus.SUCCEEDED);
        assertThat(worker.handlerFailures()).isZero();
        assertThat(worker.engineFailures()).isEqualTo(2);
    }

    private MockResponse answer(FakeEngine.Received request) {
        if (!request.isChat()) {
            return FakeEngine.json(404, "{\"error\":{\"message\":\"not here\"}}");
        }
        Matcher matcher = JOB.matcher(request.body());
        if (!matcher.find()) {
            return FakeEngine.json(400, "{\"error\":{\"message\":\"no job in the request\"}}");
        }
        String job = matcher.group(1);
        int attempt = attempts.computeIfAbsent(job, j -> new AtomicInteger()).incrementAndGet();
        arrivals.put(job + "#" + attempt, request.atNanos());
        switch (job) {
            case "job-429" -> {
                if (attempt == 1) {
                    return new MockResponse.Builder()
                            .code(429)
                            .addHeader("Content-Type", "application/json")
                            .addHeader("Retry-After", "1")
                            .body("{\"error\":{\"message\":\"rate limited\",\"type\":\"rate_limit_exceeded\"}}")
                            .build();
                }
                othersDoneBeforeRetryAfterElapsed.set(
                        results().stream().anyMatch(r -> r.getJobId().equals("job-fine")));
            }
            case "job-503" -> {
                if (attempt == 1) {
                    return FakeEngine.json(503, "{\"error\":{\"message\":\"server overloaded\"}}");
                }
            }
            case "job-drop" -> {
                if (attempt == 1) {
                    // The connection goes down halfway through the stream.
                    return new MockResponse.Builder()
                            .code(200)
                            .addHeader("Content-Type", "text/event-stream")
                            .body(ANSWER)
                            .onResponseBody(SocketEffect.ShutdownConnection.INSTANCE)
                            .build();
                }
            }
            case "job-malformed" -> {
                // A valid first chunk, then a line cut off in the middle of its JSON.
                return FakeEngine.sse(
                        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"{\\\"ci\"}}]}\n\n"
                                + "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"con\n\n"
                                + "data: [DONE]\n\n");
            }
            case "job-bad-request" -> {
                return FakeEngine.json(
                        400,
                        "{\"error\":{\"message\":\"This model's maximum context length is 32768 "
                                + "tokens. However, you requested 40000 tokens.\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}}");
            }
            default -> {
                // job-fine, job-later: answered at once
            }
        }
        return FakeEngine.sse(ANSWER);
    }

    private void start(List<String> jobs) {
        consumer.schedulePollTask(() -> {
            consumer.rebalance(List.of(partition));
            consumer.updateBeginningOffsets(Map.of(partition, 0L));
            for (int i = 0; i < jobs.size(); i++) {
                consumer.addRecord(encoded(turn(jobs.get(i)), i));
            }
        });
        worker = new InferenceWorker(
                consumer,
                producer,
                batchId -> CompletableFuture.completedFuture(spec),
                TOPICS,
                InferenceWorkerConfig.defaults().withMaxInflight(8),
                client,
                System::currentTimeMillis);
        worker.start();
    }

    private AgentTurn turn(String jobId) {
        return Fixtures.turn(
                jobId,
                spec.getBatchId(),
                1,
                List.of(Fixtures.user("Population of " + jobId + "?")),
                System.currentTimeMillis());
    }

    private ConsumerRecord<String, Decoded<AgentTurn>> encoded(AgentTurn turn, long offset) {
        byte[] bytes = TOPICS.agentTurns().valueSerde().serializer().serialize(partition.topic(), turn);
        return new ConsumerRecord<>(
                partition.topic(),
                partition.partition(),
                offset,
                turn.getJobId(),
                lenient.deserialize(partition.topic(), bytes));
    }

    private List<AgentResult> results() {
        return Fixtures.finalResults(producer.history());
    }

    private AgentResult result(String jobId) {
        return results().stream()
                .filter(r -> r.getJobId().equals(jobId))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no result for " + jobId));
    }
}
