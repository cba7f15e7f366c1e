package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ChatCompletionParserTest {

    private final AtomicLong nanos = new AtomicLong();

    @Test
    void shouldReassembleToolCallFragmentsWhereverTheStreamIsSplit() {
        // Given a recorded stream, cut into two chunks at every possible byte, including inside
        // multi-byte characters and inside "data:" lines
        byte[] stream = Recordings.bytes("sse/tool-calls.sse");
        for (int cut = 0; cut <= stream.length; cut++) {
            ChatCompletionParser parser = new ChatCompletionParser(0, nanos::get);

            // When
            parser.feed(Arrays.copyOfRange(stream, 0, cut));
            parser.feed(Arrays.copyOfRange(stream, cut, stream.length));
            ChatResponse response = parser.finish();

            // Then
            assertThat(response.failure()).as("cut at %d", cut).isNull();
            assertThat(response.content()).as("cut at %d", cut).isEqualTo("Let me look that up — twice.");
            assertThat(response.toolCalls())
                    .as("cut at %d", cut)
                    .containsExactly(
                            new RequestedToolCall(
                                    "chatcmpl-tool-a1",
                                    "web_search",
                                    "{\"query\": \"kafka exactly once\", \"limit\": 3}"),
                            new RequestedToolCall(
                                    "chatcmpl-tool-b2", "fetch_url", "{\"url\": \"https://kafka.apache.org/\"}"));
            assertThat(response.finishReason()).isEqualTo("tool_calls");
            assertThat(response.usage()).isEqualTo(new TokenUsage(1873, 1792, 58));
        }
    }

    @Test
    void shouldTimeTheFirstTokenAtTheFirstNonEmptyDelta() {
        // Given a clock that advances 10 ms per event line fed
        ChatCompletionParser parser = new ChatCompletionParser(0, nanos::get);
        String[] lines = Recordings.text("sse/tool-calls.sse").split("\n", -1);

        // When the empty role delta comes at 0 ms and the first content at 10 ms
        for (String line : lines) {
            parser.feed((line + "\n").getBytes(StandardCharsets.UTF_8));
            if (line.isEmpty()) {
                nanos.addAndGet(10_000_000);
            }
        }
        ChatResponse response = parser.finish();

        // Then the empty first delta does not count as a token
        assertThat(response.timeToFirstTokenMs()).hasValue(10);
        assertThat(response.latencyMs()).isGreaterThanOrEqualTo(100);
    }

    @Test
    void shouldReadZeroCachedTokensWhenTheEngineOmitsPromptTokenDetails() {
        ChatCompletionParser parser = new ChatCompletionParser(0, nanos::get);
        parser.feed(Recordings.bytes("sse/content-no-details.sse"));

        ChatResponse response = parser.finish();

        assertThat(response.content()).isEqualTo("{\"answer\": 42}");
        assertThat(response.toolCalls()).isEmpty();
        assertThat(response.finishReason()).isEqualTo("stop");
        assertThat(response.usage()).isEqualTo(TokenUsage.withoutCacheReport(20, 5));
        assertThat(response.usage().cacheReported()).isFalse();
    }

    @Test
    void shouldFailWhenTheStreamCarriesAnErrorObject() {
        ChatCompletionParser parser = new ChatCompletionParser(0, nanos::get);
        parser.feed(("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}\n\n"
                        + "data: {\"error\":{\"message\":\"KV cache exhausted\",\"code\":503}}\n\n")
                .getBytes(StandardCharsets.UTF_8));

        ChatResponse response = parser.finish();

        assertThat(response.isFailure()).isTrue();
        assertThat(response.failure().message()).contains("KV cache exhausted");
        assertThat(response.failure().httpStatus()).hasValue(503);
    }

    @Test
    void shouldReadOnlyTheFieldsItNeedsWhateverTheirOrderAndSkipTheRest() {
        ChatCompletionParser parser = new ChatCompletionParser(0, nanos::get);
        parser.feed(("data: {\"usage\":null,\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[null,"
                        + "{\"logprobs\":{\"content\":[{\"token\":\"x\",\"top_logprobs\":[]}]},\"finish_reason\":null,"
                        + "\"delta\":{\"role\":\"assistant\",\"content\":\"he\"},\"index\":0}],\"system_fingerprint\":null}\n\n"
                        + "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"llo\"},\"finish_reason\":\"stop\"}],"
                        + "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2,"
                        + "\"prompt_tokens_details\":{\"cached_tokens\":8}}}\n\n"
                        + "data: [DONE]\n\n")
                .getBytes(StandardCharsets.UTF_8));

        ChatResponse response = parser.finish();

        assertThat(response.failure()).isNull();
        assertThat(response.content()).isEqualTo("hello");
        assertThat(response.finishReason()).isEqualTo("stop");
        assertThat(response.usage()).isEqualTo(new TokenUsage(12, 8, 2));
    }

    @Test
    void shouldFailOnAnEventCutShortAndOnVllmsOlderErrorShape() {
        ChatCompletionParser cut = new ChatCompletionParser(0, nanos::get);
        cut.feed("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}\n\n"
                .getBytes(StandardCharsets.UTF_8));
        ChatCompletionParser vllm = new ChatCompletionParser(0, nanos::get);
        vllm.feed("data: {\"object\":\"error\",\"message\":\"prompt too long\",\"code\":400}\n\n"
                .getBytes(StandardCharsets.UTF_8));

        ChatResponse cutShort = cut.finish();
        ChatResponse error = vllm.finish();

        assertThat(cutShort.failure().message()).contains("not JSON");
        assertThat(cutShort.failure().retriable()).isTrue();
        assertThat(error.failure().message()).contains("prompt too long");
        assertThat(error.failure().httpStatus()).hasValue(400);
    }

    @Test
    void shouldFailWhenTheStreamEndsBeforeAFinishReason() {
        ChatCompletionParser parser = new ChatCompletionParser(0, nanos::get);
        parser.feed("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}\n\n"
                .getBytes(StandardCharsets.UTF_8));

        ChatResponse response = parser.finish();

        assertThat(response.isFailure()).isTrue();
        assertThat(response.failure().message()).contains("ended before a finish_reason or [DONE]");
        assertThat(response.failure().retriable()).isTrue();
    }

    @Test
    void shouldParseANonStreamedCompletion() {
        ChatResponse response = ChatCompletionParser.parseBody(Recordings.text("sse/non-streamed.json"), 0, nanos::get);

        assertThat(response.failure()).isNull();
        assertThat(response.content()).isNull();
        assertThat(response.toolCalls())
                .containsExactly(new RequestedToolCall("call_x1", "web_search", "{\"query\":\"rfc 8785\"}"));
        assertThat(response.finishReason()).isEqualTo("tool_calls");
        assertThat(response.usage()).isEqualTo(new TokenUsage(900, 512, 17));
        assertThat(response.timeToFirstTokenMs()).isEmpty();
    }
}
