package io.batchagent.opencode;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The event lines of a real {@code opencode run --format json} session (opencode-ai 1.18.33), recorded. */
class SessionEventsTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void shouldTurnARecordedSessionIntoItsAnswerTranscriptAndTokens() throws Exception {
        SessionEvents events = new SessionEvents(OpenCodeSettings.DEFAULT_TRANSCRIPT_CHARS);
        try (InputStream recorded = getClass().getResourceAsStream("/opencode-1.18.33-run.jsonl")) {
            new String(recorded.readAllBytes(), StandardCharsets.UTF_8).lines().forEach(events::accept);
        }
        events.accept("this is not JSON");

        assertThat(events.answer()).contains("{\"answer\":\"simulated answer for: Command: ls -la\"}");
        assertThat(events.error()).isEmpty();
        assertThat(events.sessionId()).contains("ses_de1bc2b83ffesPCDkZbS60Jjop");
        assertThat(events.steps()).isEqualTo(2);
        assertThat(events.toolCalls()).isEqualTo(1);
        assertThat(events.otherLines()).isEqualTo(1);
        JsonNode transcript = events.transcript().path("events");
        assertThat(transcript).hasSize(6);
        JsonNode tool = transcript.get(1);
        assertThat(tool.path("tool").asText()).isEqualTo("bash");
        assertThat(tool.path("input").path("command").asText()).isEqualTo("ls -la");
        assertThat(tool.path("output").asText()).contains("README.md");
        assertThat(events.openCodeTokens().toString()).isEqualTo("{\"input\":55,\"output\":38,\"cacheRead\":16855}");
    }

    @Test
    void shouldKeepTheFirstErrorAndCapTheTranscript() {
        SessionEvents events = new SessionEvents(1_000);
        events.accept("{\"type\":\"error\",\"timestamp\":1,\"sessionID\":\"ses_x\",\"error\":{\"name\":\"APIError\","
                + "\"data\":{\"message\":\"Bad Gateway: the engine answered 502\"}}}");
        events.accept(
                "{\"type\":\"error\",\"timestamp\":2,\"sessionID\":\"ses_x\",\"error\":{\"name\":\"UnknownError\"}}");
        String big = "x".repeat(3_000);
        events.accept(
                "{\"type\":\"text\",\"sessionID\":\"ses_x\",\"part\":{\"type\":\"text\",\"text\":\"" + big + "\"}}");

        assertThat(events.error()).contains("Bad Gateway: the engine answered 502");
        assertThat(events.transcript().path("events")).hasSize(2);
        assertThat(events.transcript().path("droppedEvents").asInt()).isEqualTo(1);
        assertThat(events.answer()).contains(big);
    }

    @Test
    void shouldFillTaskTemplatesAsTheJobCompilerDoes() throws Exception {
        JsonNode input = JSON.readTree("{\"repo\":\"kv-store\",\"issue\":42,\"labels\":[\"bug\"]}");

        assertThat(JobTemplate.render("Fix issue {issue} of {repo} {{labels: {labels}}}", input))
                .isEqualTo("Fix issue 42 of kv-store {labels: [\"bug\"]}");
        assertThatThrownBy(() -> JobTemplate.render("Fix {missing}", input))
                .isInstanceOf(JobTemplate.MissingVariable.class)
                .hasMessageContaining("'missing'");
    }
}
