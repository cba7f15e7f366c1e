package io.batchagent.sdk;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.batchagent.client.BatchClient;
import io.batchagent.events.AgentJob;
import java.util.Map;

/**
 * The map-reduce workload of the tests: a plan whose 20 items cycle through four values, one of
 * which ("MAPFAIL") makes the simulator answer HTTP 500, so 5 of 20 map jobs fail.
 */
final class MapReduceSpecs {

    private static final ObjectMapper JSON = new ObjectMapper();

    static final String PLAN_SCHEMA =
            "{\"type\":\"object\",\"required\":[\"items\"],\"properties\":{\"items\":{\"type\":\"array\","
                    + "\"minItems\":20,\"maxItems\":20,\"items\":{\"type\":\"string\",\"enum\":[\"alpha\",\"beta\",\"gamma\",\"MAPFAIL\"]}}}}";

    private MapReduceSpecs() {}

    static AgentSpec<JsonNode> plan() {
        return AgentSpec.builder(OutputSchema.jsonSchema(PLAN_SCHEMA))
                .task("Plan 20 research questions about {topic}.")
                .input(Map.of("topic", "KV cache reuse"))
                .batchId("survey-" + System.nanoTime())
                .build();
    }

    static AgentSpec<SdkIT.Answer> map() {
        return AgentSpec.builder(OutputSchema.of(SdkIT.Answer.class))
                .task("Topic: {item}\nAnswer this research question.")
                .buildStage();
    }

    static AgentSpec<JsonNode> reduce() {
        return AgentSpec.builder(
                        OutputSchema.jsonSchema(
                                "{\"type\":\"object\",\"required\":[\"survey\"],\"properties\":{\"survey\":{\"type\":\"string\"}}}"))
                .task("{succeeded} answers succeeded and {failed} failed:\n{results}\nWrite the survey.")
                .buildStage();
    }

    /** Reads the reduce job from the jobs topic and checks it carried 15 ok and 5 failed entries. */
    static void assertReducerSaw(BatchClient client, MapReduceOutcome<?, ?, ?> outcome) throws Exception {
        JsonNode input = JSON.readTree(reduceInput(client, outcome.reduce().jobId()));
        assertThat(input.path("succeeded").asInt()).isEqualTo(15);
        assertThat(input.path("failed").asInt()).isEqualTo(5);
        assertThat(input.path("results")).hasSize(20);
        int failed = 0;
        for (JsonNode entry : input.path("results")) {
            if (entry.path("status").asText().equals("FAILED")) {
                failed++;
                assertThat(entry.path("error").asText()).contains("ENGINE_ERROR");
            }
        }
        assertThat(failed).isEqualTo(5);
    }

    private static String reduceInput(BatchClient client, String reduceJobId) {
        for (AgentJob job : client.jobs()) {
            if (job.getJobId().equals(reduceJobId)) {
                return job.getInputJson();
            }
        }
        throw new AssertionError("no reduce job " + reduceJobId + " on the jobs topic");
    }
}
