package io.batchagent.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.batchagent.client.BatchClient;
import io.batchagent.client.BatchDefinition;
import io.batchagent.events.AgentJob;
import io.batchagent.events.AgentResult;
import io.batchagent.events.JobStatus;
import io.batchagent.schemas.Topics;
import io.batchagent.simulator.EngineSimulator;
import io.batchagent.simulator.SimulatorOptions;
import io.batchagent.testkit.KafkaCluster;
import io.batchagent.testkit.TestNames;
import io.batchagent.testkit.WithKafka;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.GroupListing;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code batchagent run} submits its batch as soon as the stages are started, before the Streams apps get
 * their partitions (docs/latency.md, "Cold start"). Here the batch is submitted before any stage starts,
 * so that every Streams app's group is provably unknown to the broker while the jobs are already on their
 * topic; the batch still completes, with one result per job: each group's first assignment reads from the
 * earliest offset.
 */
@WithKafka
class EarlySubmitIT {

    @TempDir
    Path stateDir;

    @Test
    void shouldFinishEveryJobOfABatchSubmittedBeforeTheStreamsAppsJoinedTheirGroups(KafkaCluster kafka, TestInfo info)
            throws Exception {
        TestNames names = TestNames.of(info);
        try (EngineSimulator simulator = EngineSimulator.start(
                SimulatorOptions.builder().profile("instant").build())) {
            PipelineConfig config = PipelineConfig.defaults(kafka.bootstrapServers(), simulator.baseUrl(), stateDir)
                    .withTopicPrefix(names.topicPrefix())
                    .withGraces(Duration.ofSeconds(5), Duration.ofSeconds(10))
                    .withToolOptions(Map.of("sim_search.latency.ms", "10"));
            Topics topics = Topics.create(config.topicPrefix(), config.serdeConfig());
            kafka.createTopics(topics, config.partitions());
            BatchClient client = new BatchClient(config.kafkaConfig(), topics);
            BatchDefinition definition = PipelineFixture.definition(
                    "You are a test agent.",
                    "Topic: {topic}\nQuery: {query}",
                    IntStream.range(0, 6)
                            .mapToObj(i -> String.format("{\"topic\":\"t%d\",\"query\":\"q%d\"}", i, i))
                            .toList(),
                    List.of(PipelineFixture.simSearch(10_000)),
                    3);

            // Given a batch whose jobs are committed on the jobs topic while no Streams app has joined its group
            BatchClient.Submission submission = client.submit("early", definition);
            List<String> committedJobs = TopicContents.read(kafka.clientConfig(), topics.agentJobs()).stream()
                    .map(AgentJob::getJobId)
                    .toList();
            Set<String> groupsAtSubmit = kafka.admin().listGroups().all().get().stream()
                    .map(GroupListing::groupId)
                    .collect(Collectors.toSet());
            List<String> streamsGroups = EnumSet.allOf(Stage.class).stream()
                    .filter(Stage::isStreamsApp)
                    .map(stage -> Pipeline.groupId(config, stage))
                    .toList();
            assertThat(committedJobs).containsExactlyInAnyOrderElementsOf(submission.jobIds());
            assertThat(groupsAtSubmit).doesNotContainAnyElementsOf(streamsGroups);

            // When every stage starts as batchagent run starts them
            try (Pipeline pipeline = Pipeline.launch(config, EnumSet.allOf(Stage.class))) {
                List<AgentResult> results = client.await(submission.jobIds(), r -> {}, Duration.ofMinutes(2));

                // Then every job ends SUCCEEDED, with exactly one result record each
                assertThat(results)
                        .hasSize(6)
                        .extracting(AgentResult::getStatus)
                        .containsOnly(JobStatus.SUCCEEDED);
                Map<String, Long> recordsPerJob = TopicContents.read(kafka.clientConfig(), topics.results()).stream()
                        .collect(Collectors.groupingBy(AgentResult::getJobId, Collectors.counting()));
                assertThat(recordsPerJob)
                        .containsOnlyKeys(submission.jobIds())
                        .allSatisfy(
                                (job, records) -> assertThat(records).as(job).isOne());
            }
        }
    }
}
