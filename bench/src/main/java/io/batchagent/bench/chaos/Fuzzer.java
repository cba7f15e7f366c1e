package io.batchagent.bench.chaos;

import io.batchagent.events.AgentJob;
import io.batchagent.events.DeadLetter;
import io.batchagent.schemas.Topics;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Writes bad records to every topic a stage reads: bytes that are not Avro, a wrong magic byte, an
 * unknown schema id, a valid record of the wrong type, a truncated record, an empty value and a
 * tombstone (only where the topic is not compacted: on batch-specs and results a tombstone is a delete),
 * and (on agent-jobs) a well-formed job of a batch that does not exist. Keys are job ids
 * ({@code fuzz-<n>}) on topics keyed by job id, and random call hashes elsewhere.
 */
final class Fuzzer {

    enum Kind {
        RANDOM_BYTES,
        BAD_MAGIC,
        UNKNOWN_SCHEMA_ID,
        WRONG_TYPE,
        TRUNCATED,
        EMPTY,
        TOMBSTONE,
        UNKNOWN_BATCH
    }

    /** One record written, and where it landed. */
    record Fuzzed(String topic, int partition, long offset, String key, Kind kind, boolean keyedByJob) {}

    private Fuzzer() {}

    /** The topics stages read, and whether each is keyed by job id. */
    static Map<String, Boolean> inputTopics(Topics topics) {
        Map<String, Boolean> inputs = new java.util.LinkedHashMap<>();
        inputs.put(topics.agentJobs().name(), true);
        inputs.put(topics.agentTurns().name(), true);
        inputs.put(topics.agentWaits().name(), true);
        inputs.put(topics.toolResponses().name(), true);
        inputs.put(topics.toolRequests().name(), false);
        inputs.put(topics.toolCalls().name(), false);
        inputs.put(topics.toolResults().name(), false);
        inputs.put(topics.results().name(), true);
        inputs.put(topics.batchSpecs().name(), false);
        return inputs;
    }

    static List<Fuzzed> write(Map<String, Object> kafkaConfig, Topics topics, int count, long seed) {
        Random random = new Random(seed);
        Map<String, Boolean> inputs = inputTopics(topics);
        java.util.Set<String> compacted =
                java.util.Set.of(topics.batchSpecs().name(), topics.results().name());
        List<String> names = new ArrayList<>(inputs.keySet());
        byte[] sample = sampleJob(topics);
        byte[] otherType = otherType(topics);
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        List<Fuzzed> planned = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(kafkaConfig, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int i = 0; i < count; i++) {
                String topic = names.get(i % names.size());
                boolean byJob = inputs.get(topic);
                Kind kind = Kind.values()[
                        random.nextInt(
                                topic.equals(topics.agentJobs().name())
                                        ? Kind.values().length
                                        : Kind.values().length - 1)];
                if (kind == Kind.TOMBSTONE && compacted.contains(topic)) {
                    kind = Kind.EMPTY; // on a compacted topic a tombstone is a delete, not a bad record
                }
                String key = byJob ? "fuzz-" + seed + "-" + i : HexFormat.of().formatHex(randomBytes(random, 32));
                byte[] value = switch (kind) {
                    case RANDOM_BYTES -> randomBytes(random, 1 + random.nextInt(200));
                    case BAD_MAGIC ->
                        withFirst((byte) (1 + random.nextInt(255)), randomBytes(random, 5 + random.nextInt(100)));
                    case UNKNOWN_SCHEMA_ID ->
                        ByteBuffer.allocate(5 + 20)
                                .put((byte) 0)
                                .putInt(random.nextInt(1000) + 7)
                                .put(randomBytes(random, 20))
                                .array();
                    case WRONG_TYPE -> otherType;
                    case TRUNCATED -> java.util.Arrays.copyOf(sample, Math.max(6, sample.length / 2));
                    case EMPTY -> new byte[0];
                    case TOMBSTONE -> null;
                    case UNKNOWN_BATCH -> jobOf(topics, key, "no-such-batch-" + seed);
                };
                planned.add(new Fuzzed(topic, -1, -1, key, kind, byJob));
                sent.add(producer.send(new ProducerRecord<>(topic, key.getBytes(StandardCharsets.UTF_8), value)));
            }
            producer.flush();
            List<Fuzzed> written = new ArrayList<>();
            for (int i = 0; i < planned.size(); i++) {
                RecordMetadata meta = sent.get(i).get();
                Fuzzed f = planned.get(i);
                written.add(new Fuzzed(f.topic(), meta.partition(), meta.offset(), f.key(), f.kind(), f.keyedByJob()));
            }
            return written;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("could not write a fuzzed record", e.getCause());
        }
    }

    private static byte[] sampleJob(Topics topics) {
        return jobOf(topics, "sample", "sample-batch");
    }

    private static byte[] jobOf(Topics topics, String jobId, String batchId) {
        AgentJob job = AgentJob.newBuilder()
                .setJobId(jobId)
                .setBatchId(batchId)
                .setIndex(0)
                .setInputJson("{\"agent\":\"x\",\"topic\":\"t\",\"key\":\"k\"}")
                .setSubmittedAtMs(System.currentTimeMillis())
                .build();
        return topics.agentJobs()
                .valueSerde()
                .serializer()
                .serialize(topics.agentJobs().name(), job);
    }

    private static byte[] otherType(Topics topics) {
        DeadLetter letter = DeadLetter.newBuilder()
                .setStage("fuzzer")
                .setTopic("nowhere")
                .setPartition(0)
                .setOffset(0)
                .setReason("a record of the wrong type")
                .setRecordedAtMs(System.currentTimeMillis())
                .build();
        return topics.deadLetters()
                .valueSerde()
                .serializer()
                .serialize(topics.deadLetters().name(), letter);
    }

    private static byte[] randomBytes(Random random, int length) {
        byte[] bytes = new byte[length];
        random.nextBytes(bytes);
        return bytes;
    }

    private static byte[] withFirst(byte first, byte[] rest) {
        rest[0] = first;
        return rest;
    }
}
