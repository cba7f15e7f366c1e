package io.batchagent.simulator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class EngineFaultsTest {

    private static final String TWO_TOOLS = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"lookup\","
            + "\"parameters\":{\"type\":\"object\",\"properties\":{\"topic\":{\"type\":\"string\"}},\"required\":[\"topic\"]}}},"
            + "{\"type\":\"function\",\"function\":{\"name\":\"fetch\","
            + "\"parameters\":{\"type\":\"object\",\"properties\":{\"key\":{\"type\":\"string\"}},\"required\":[\"key\"]}}}]";

    private EngineSimulator simulator;

    @AfterEach
    void stop() {
        if (simulator != null) {
            simulator.close();
        }
    }

    private SimulatorHttpClient start(SimulatorOptions.Builder options) {
        simulator = EngineSimulator.start(options.build());
        return new SimulatorHttpClient(simulator.baseUrl());
    }

    private static String request(String user, boolean stream) {
        return "{\"model\":\"sim-model\",\"stream\":" + stream + ",\"messages\":[{\"role\":\"user\",\"content\":\""
                + user + "\"}]}";
    }

    @Test
    void shouldParseASpecOverItsBaseAndRejectUnknownKeysAndBadRates() {
        EngineFaults faults = EngineFaults.parse(
                "error=0.2, throttle=0.05,retry-after=3,hang=0.05,hang-ms=30000,seed=9", EngineFaults.NONE);

        assertThat(faults).isEqualTo(new EngineFaults(false, 0.2, 0.05, 3, 0, 0.05, 30_000, 9));
        assertThat(EngineFaults.parse("down=true", faults))
                .isEqualTo(new EngineFaults(true, 0.2, 0.05, 3, 0, 0.05, 30_000, 9));
        assertThat(EngineFaults.parse(faults.spec(), EngineFaults.NONE)).isEqualTo(faults);
        assertThatThrownBy(() -> EngineFaults.parse("errors=0.1", EngineFaults.NONE))
                .hasMessageContaining("unknown fault setting 'errors'");
        assertThatThrownBy(() -> EngineFaults.parse("error=lots", EngineFaults.NONE))
                .hasMessageContaining("error=lots is not a number");
        assertThatThrownBy(() -> EngineFaults.parse("error=0.7,throttle=0.5", EngineFaults.NONE))
                .hasMessageContaining("add up to more than 1");
    }

    @Test
    void shouldDrawEachFaultInItsShareOfTheUnitInterval() {
        EngineFaults faults = new EngineFaults(false, 0.1, 0.1, 1, 0.1, 0.1, 10, 1);

        assertThat(faults.fault(0.05)).isEqualTo(EngineFaults.Fault.SERVER_ERROR);
        assertThat(faults.fault(0.15)).isEqualTo(EngineFaults.Fault.THROTTLE);
        assertThat(faults.fault(0.25)).isEqualTo(EngineFaults.Fault.MALFORMED);
        assertThat(faults.fault(0.35)).isEqualTo(EngineFaults.Fault.HANG);
        assertThat(faults.fault(0.45)).isEqualTo(EngineFaults.Fault.NONE);
        assertThat(EngineFaults.parse("down=true", faults).fault(0.99)).isEqualTo(EngineFaults.Fault.OUTAGE);
    }

    @Test
    void shouldAnswer503WhileDownAndServeAgainWhenTheAdminEndpointEndsTheOutage() {
        SimulatorHttpClient http = start(SimulatorOptions.builder());

        assertThat(http.post("/admin/faults", "down=true").statusCode()).isEqualTo(200);
        HttpResponse<String> down = http.post("/v1/chat/completions", request("hello", false));
        assertThat(down.statusCode()).isEqualTo(503);
        assertThat(down.body()).contains("simulated outage");

        assertThat(http.post("/admin/faults", "down=false").body()).contains("down=false");
        assertThat(http.post("/v1/chat/completions", request("hello", false)).statusCode())
                .isEqualTo(200);
        assertThat(http.get("/metrics").body())
                .contains("sim:faults_injected_total{model_name=\"sim-model\",kind=\"outage\"} 1");
        assertThat(http.post("/admin/faults", "down=maybe,error=2").statusCode())
                .isEqualTo(400);
    }

    @Test
    void shouldThrottleWithRetryAfterAndBreakStreamsWhenTold() {
        SimulatorHttpClient http = start(
                SimulatorOptions.builder().faults(EngineFaults.parse("throttle=1,retry-after=7", EngineFaults.NONE)));

        HttpResponse<String> throttled = http.post("/v1/chat/completions", request("hello", true));
        assertThat(throttled.statusCode()).isEqualTo(429);
        assertThat(throttled.headers().firstValue("retry-after")).hasValue("7");

        simulator.setFaults(EngineFaults.parse("throttle=0,malformed=1", simulator.faults()));
        HttpResponse<String> broken = http.post("/v1/chat/completions", request("hello", true));
        assertThat(broken.statusCode()).isEqualTo(200);
        assertThat(broken.body()).startsWith("data: {").doesNotContain("[DONE]");
        assertThatThrownBy(() -> SimulatorHttpClient.json(broken.body().substring("data: ".length())))
                .isInstanceOf(RuntimeException.class);
    }

    @Test
    void shouldAnswerTheSameTurnDifferentlyWhenVariedAndCountTheRepeat() {
        SimulatorHttpClient http = start(SimulatorOptions.builder().varyAnswersSeed(42L));
        String body = request("Topic: kv cache\\nKey: k1", false);

        Set<String> answers = new HashSet<>();
        for (int i = 0; i < 4; i++) {
            answers.add(http.chat(body).at("/choices/0/message/content").asText());
        }

        assertThat(answers).hasSize(4);
        assertThat(simulator.repeatedCalls()).isEqualTo(3);
    }

    @Test
    void shouldCallASecondToolOnAboutHalfTheCallsAfterTheFirstResultWhenVaried() {
        SimulatorHttpClient http = start(SimulatorOptions.builder().varyAnswersSeed(7L));
        String afterLookup =
                "{\"model\":\"sim-model\",\"messages\":[{\"role\":\"user\",\"content\":\"Topic: kv\\nKey: k1\"},"
                        + "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
                        + "\"function\":{\"name\":\"lookup\",\"arguments\":\"{\\\"topic\\\":\\\"kv\\\"}\"}}]},"
                        + "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"notes\"}]," + TWO_TOOLS + "}";

        int fetches = 0;
        for (int i = 0; i < 40; i++) {
            JsonNode message = http.chat(afterLookup).at("/choices/0/message");
            if (message.path("tool_calls").size() > 0) {
                assertThat(message.at("/tool_calls/0/function/name").asText()).isEqualTo("fetch");
                assertThat(message.at("/tool_calls/0/function/arguments").asText())
                        .isEqualTo("{\"key\":\"k1\"}");
                fetches++;
            }
        }

        assertThat(fetches).isBetween(8, 32);
    }
}
