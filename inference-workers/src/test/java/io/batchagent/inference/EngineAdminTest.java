package io.batchagent.inference;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import mockwebserver3.MockResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Engine metrics and cache flushes, against local servers answering as SGLang and vLLM do. */
class EngineAdminTest {

    private static final String SGLANG_METRICS = """
            # HELP sglang:prompt_tokens_total Number of prefill tokens processed.
            # TYPE sglang:prompt_tokens_total counter
            sglang:prompt_tokens_total{model_name="qwen"} 4096.0
            # TYPE sglang:cached_tokens_total counter
            sglang:cached_tokens_total{model_name="qwen",cache_source="device"} 3000.0
            sglang:cached_tokens_total{model_name="qwen",cache_source="host"} 168.0
            # TYPE sglang:cache_hit_rate gauge
            sglang:cache_hit_rate{model_name="qwen"} 0.7734
            """;
    private static final String VLLM_METRICS = """
            # HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
            # TYPE vllm:prefix_cache_queries_total counter
            vllm:prefix_cache_queries_total{engine="0",model_name="qwen"} 1.0e+04
            # TYPE vllm:prefix_cache_hits_total counter
            vllm:prefix_cache_hits_total{engine="0",model_name="qwen"} 8000.0
            vllm:num_requests_running{engine="0",model_name="qwen"} 3.0
            """;

    private FakeEngine engine;
    private EngineAdmin admin;

    @AfterEach
    void close() {
        if (admin != null) {
            admin.close();
        }
        if (engine != null) {
            engine.close();
        }
    }

    @Test
    void shouldReadSglangCountersSummedOverLabelsAndTheirDelta() throws Exception {
        AtomicInteger scrapes = new AtomicInteger();
        start(
                EngineEndpoint.Kind.SGLANG,
                request -> text(
                        scrapes.incrementAndGet() == 1
                                ? SGLANG_METRICS
                                : SGLANG_METRICS.replace("4096.0", "6096.0").replace("3000.0", "4800.0")));

        EngineMetrics before = admin.scrapeMetrics().get(10, TimeUnit.SECONDS);
        EngineMetrics after = admin.scrapeMetrics().get(10, TimeUnit.SECONDS);

        assertThat(before.family()).isEqualTo("sglang");
        assertThat(before.promptTokens()).hasValue(4096.0);
        assertThat(before.cachedTokens()).hasValue(3168.0);
        assertThat(before.hitRate()).hasValue(0.7734);
        EngineMetrics.Delta delta = after.since(before);
        assertThat(delta.promptTokens()).hasValue(2000.0);
        assertThat(delta.cachedTokens()).hasValue(1800.0);
        assertThat(delta.hitRate()).hasValue(0.9);
        assertThat(engine.received()).extracting(FakeEngine.Received::path).containsOnly("/metrics");
    }

    @Test
    void shouldReadVllmPrefixCacheQueriesAndHits() throws Exception {
        start(EngineEndpoint.Kind.VLLM, request -> text(VLLM_METRICS));

        EngineMetrics metrics = admin.scrapeMetrics().get(10, TimeUnit.SECONDS);

        assertThat(metrics.family()).isEqualTo("vllm");
        assertThat(metrics.promptTokens()).hasValue(10_000.0);
        assertThat(metrics.cachedTokens()).hasValue(8000.0);
        assertThat(metrics.samples()).containsEntry("vllm:num_requests_running", 3.0);
    }

    @Test
    void shouldWaitOutSglangsBusyAnswerToAFlush() throws Exception {
        AtomicInteger flushes = new AtomicInteger();
        start(
                EngineEndpoint.Kind.SGLANG,
                request -> flushes.incrementAndGet() < 3
                        ? new MockResponse.Builder()
                                .code(400)
                                .body(
                                        "Cache flushed.\nPlease check backend logs for more details. "
                                                + "(When there are running or waiting requests, the operation will not be performed.)\n")
                                .build()
                        : new MockResponse.Builder()
                                .code(200)
                                .body(
                                        "Cache flushed.\nPlease check backend logs for more details. "
                                                + "(When there are running or waiting requests, the operation will not be performed.)\n")
                                .build());

        EngineAdmin.CacheFlush flush = admin.flushCache(Duration.ofSeconds(10)).get(20, TimeUnit.SECONDS);

        assertThat(flush.flushed()).isTrue();
        assertThat(flush.attempts()).isEqualTo(3);
        assertThat(engine.received())
                .extracting(r -> r.method() + " " + r.path())
                .containsOnly("POST /flush_cache");
    }

    @Test
    void shouldReadVllmsBodyRatherThanTrustItsStatus() throws Exception {
        start(EngineEndpoint.Kind.VLLM, request -> FakeEngine.json(200, "{\"success\": false}"));

        EngineAdmin.CacheFlush flush = admin.flushCache(Duration.ofMillis(700)).get(20, TimeUnit.SECONDS);

        assertThat(flush.flushed()).isFalse();
        assertThat(flush.detail()).contains("still busy at the timeout");
        assertThat(engine.received()).extracting(FakeEngine.Received::path).contains("/reset_prefix_cache");
    }

    @Test
    void shouldSayVllmServesResetOnlyInDevMode() throws Exception {
        start(EngineEndpoint.Kind.VLLM, request -> FakeEngine.json(404, "{\"detail\":\"Not Found\"}"));

        EngineAdmin.CacheFlush flush = admin.flushCache(Duration.ofSeconds(5)).get(20, TimeUnit.SECONDS);

        assertThat(flush.flushed()).isFalse();
        assertThat(flush.attempts()).isEqualTo(1);
        assertThat(flush.detail()).contains("HTTP 404").contains("VLLM_SERVER_DEV_MODE=1");
    }

    @Test
    void shouldReportNoFlushAndNoMetricsForAHostedApi() throws Exception {
        start(EngineEndpoint.Kind.ANTHROPIC, request -> FakeEngine.json(500, "{}"));

        assertThat(admin.flushCache(Duration.ofSeconds(1))
                        .get(10, TimeUnit.SECONDS)
                        .flushed())
                .isFalse();
        assertThat(admin.scrapeMetrics().get(10, TimeUnit.SECONDS)).isEqualTo(EngineMetrics.NONE);
        assertThat(engine.received()).isEmpty();
    }

    @Test
    void shouldReadRetryAfterInSecondsMillisecondsOrAsADate() {
        assertThat(EngineMessages.retryAfter(name -> name.equals("retry-after") ? "2" : null))
                .isEqualTo(Duration.ofSeconds(2));
        assertThat(EngineMessages.retryAfter(name -> name.equals("retry-after-ms") ? "150" : "9"))
                .isEqualTo(Duration.ofMillis(150));
        assertThat(EngineMessages.retryAfter(
                        name -> name.equals("retry-after") ? "Wed, 21 Oct 2015 07:28:00 GMT" : null))
                .isEqualTo(Duration.ZERO);
        assertThat(EngineMessages.retryAfter(name -> null)).isNull();
    }

    private void start(
            EngineEndpoint.Kind kind, java.util.function.Function<FakeEngine.Received, MockResponse> handler) {
        engine = new FakeEngine(handler);
        admin = new EngineAdmin(engine.endpoint(kind), InferenceWorkerConfig.defaults());
    }

    private static MockResponse text(String body) {
        return new MockResponse.Builder()
                .code(200)
                .addHeader("Content-Type", "text/plain; version=0.0.4")
                .body(body)
                .build();
    }
}
