package io.batchagent.simulator;

/**
 * Which engine's request rules the simulator imitates. Both serve the same OpenAI-compatible
 * endpoints, the same metrics (every family is exposed) and the same flush endpoints; they differ
 * where the real engines differ in what a client sends.
 */
public enum SimulatorDialect {
    /**
     * SGLang: {@code priority} runs higher values first (with {@code --enable-priority-scheduling});
     * {@code stream_options} on a request that does not stream is ignored.
     */
    SGLANG,
    /**
     * vLLM: {@code priority} runs lower values first (with {@code --scheduling-policy priority}), and
     * any non-zero value is rejected with HTTP 400 without it; {@code stream_options} on a request that
     * does not stream is rejected with HTTP 400 ("Stream options can only be defined when
     * `stream=True`.").
     */
    VLLM
}
