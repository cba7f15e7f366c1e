package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class SseDecoderTest {

    private static final String STREAM = ": keep-alive comment\r\n"
            + "data: {\"content\":\"caf\u00e9 \u2014 na\u00efve\"}\r\n"
            + "\r\n"
            + "event: tool_call_dispatch\n"
            + "data: first line\n"
            + "data:second line\n"
            + "\n"
            + "data: [DONE]";

    private static List<String> decode(byte[] bytes, int cut) {
        List<String> events = new ArrayList<>();
        SseDecoder decoder = new SseDecoder((event, data) -> events.add(event + "|" + data));
        decoder.feed(Arrays.copyOfRange(bytes, 0, cut));
        decoder.feed(Arrays.copyOfRange(bytes, cut, bytes.length));
        decoder.finish();
        return events;
    }

    @Test
    void shouldDecodeTheSameEventsWhereverTheBytesAreSplitEvenInsideACharacter() {
        byte[] bytes = STREAM.getBytes(StandardCharsets.UTF_8);
        List<String> expected = List.of(
                "null|{\"content\":\"caf\u00e9 \u2014 na\u00efve\"}",
                "tool_call_dispatch|first line\nsecond line",
                "null|[DONE]");
        for (int cut = 0; cut <= bytes.length; cut++) {
            assertThat(decode(bytes, cut)).as("split at byte %d", cut).isEqualTo(expected);
        }
    }

    @Test
    void shouldDecodeALineLongerThanItsFirstBuffer() {
        String payload = "x".repeat(10_000);
        byte[] bytes = ("data: " + payload + "\n\n").getBytes(StandardCharsets.UTF_8);

        assertThat(decode(bytes, 3)).containsExactly("null|" + payload);
    }
}
