package io.batchagent.bench.chaos;

import io.batchagent.client.BatchClient;
import io.batchagent.events.AgentResult;
import io.batchagent.schemas.Topics;
import io.batchagent.schemas.serde.EventSerdes;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The chaos campaign's submitting client, a process of its own so that it can be killed too:
 * submits the chaos batch (a restarted client resubmits, and the submission skips finished jobs),
 * then follows the results until every job has one. Arguments:
 * {@code <bootstrap servers> <topic prefix> <batch id> <jobs>}. Exits 0 when every job has a final
 * result, 3 on timeout.
 */
public final class ClientMain {

    private ClientMain() {}

    public static void main(String[] args) {
        EventSerdes.trustEventClasses();
        String bootstrap = args[0];
        String prefix = args[1];
        String batchId = args[2];
        int jobs = Integer.parseInt(args[3]);
        BatchClient client = new BatchClient(Map.of("bootstrap.servers", bootstrap), Topics.create(prefix, Map.of()));
        BatchClient.Submission submission = client.submit(batchId, ChaosBatch.definition(jobs));
        System.err.println("chaos client submitted " + submission.submitted() + " jobs (" + submission.alreadyFinished()
                + " already finished, " + submission.alreadySubmitted() + " already submitted)");
        AtomicInteger seen = new AtomicInteger();
        try {
            List<AgentResult> results = client.await(
                    submission,
                    r -> {
                        int n = seen.incrementAndGet();
                        if (n % 100 == 0) {
                            System.err.println("chaos client: " + n + " results");
                        }
                    },
                    Duration.ofMinutes(30));
            System.err.println("chaos client done: " + results.size() + " results");
            System.exit(0);
        } catch (TimeoutException e) {
            System.err.println("chaos client timed out: " + e.getMessage());
            System.exit(3);
        }
    }
}
