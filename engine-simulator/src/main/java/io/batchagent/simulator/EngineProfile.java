package io.batchagent.simulator;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * The cost model of a SIMULATED inference engine: how long a scheduler step takes and how much KV
 * cache it has. Every figure that the simulator reports is computed from one of these profiles; none
 * is measured on real hardware.
 *
 * <p>One scheduler step that prefills {@code p} prompt tokens and emits one token for each of
 * {@code n} sequences, whose contexts (the tokens each one's attention reads: its prompt plus the
 * tokens it emitted before this one) add up to {@code c} tokens, costs
 *
 * <pre>
 * stepOverheadMillis + decodeStepBaseMillis
 *     + p / prefillTokensPerSecond * 1000
 *     + n * decodeMillisPerSequence
 *     + c * decodeMillisPerContextToken
 * </pre>
 *
 * (see {@link #stepMillis}). A step that has nothing to do is never run, so an idle engine costs
 * nothing. The formula is linear in its terms, so the cost of many steps is the same formula over
 * their sums ({@link #workMillis}): the scheduler and the benchmarks' ideal-schedule bound both use
 * it, and nothing else computes a step's cost.
 *
 * @param name the name {@link #named(String)} looks the profile up by
 * @param prefillTokensPerSecond prefill compute rate; {@link Double#POSITIVE_INFINITY} makes prefill free
 * @param stepOverheadMillis CPU time of any step (scheduling, sampling, launching it) not hidden by the GPU
 * @param decodeStepBaseMillis fixed GPU cost of any forward step (reading the weights once)
 * @param decodeMillisPerSequence extra cost per sequence that emits a token in the step (its matmul FLOPs)
 * @param decodeMillisPerContextToken extra cost per context token of each emitting sequence (its KV read)
 * @param kvCapacityTokens tokens the KV pool holds: cached prefixes plus running requests
 * @param prefillTokenBudget most prompt tokens prefilled in one step (chunked prefill)
 * @param maxRunningRequests most requests in the running batch at once
 */
public record EngineProfile(
        String name,
        double prefillTokensPerSecond,
        double stepOverheadMillis,
        double decodeStepBaseMillis,
        double decodeMillisPerSequence,
        double decodeMillisPerContextToken,
        long kvCapacityTokens,
        int prefillTokenBudget,
        int maxRunningRequests) {

    /**
     * Zero cost for everything and a large KV pool: steps take no time at all. For tests and the
     * scale benchmark, where only the accounting (prompt, cached and prefill tokens) matters.
     */
    public static final EngineProfile INSTANT =
            new EngineProfile("instant", Double.POSITIVE_INFINITY, 0, 0, 0, 0, 16L << 20, 1 << 18, 4096);

    /**
     * One H100 SXM 80 GB serving Qwen2.5-32B-Instruct in BF16, derived from public figures (see the
     * module README for the derivation); name {@code h100-qwen2.5-32b}.
     */
    public static final EngineProfile H100_QWEN32B = H100Qwen32b.derive();

    private static final List<EngineProfile> KNOWN = List.of(INSTANT, H100_QWEN32B);

    public EngineProfile {
        Objects.requireNonNull(name, "name");
        if (name.isBlank()) {
            throw new IllegalArgumentException("profile name must not be blank");
        }
        if (!(prefillTokensPerSecond > 0)) {
            throw new IllegalArgumentException("prefillTokensPerSecond must be > 0, was " + prefillTokensPerSecond);
        }
        for (double cost : new double[] {
            stepOverheadMillis, decodeStepBaseMillis, decodeMillisPerSequence, decodeMillisPerContextToken
        }) {
            if (!(cost >= 0) || Double.isInfinite(cost)) {
                throw new IllegalArgumentException("step and decode costs must be finite and >= 0, was " + cost);
            }
        }
        if (kvCapacityTokens < 1) {
            throw new IllegalArgumentException("kvCapacityTokens must be >= 1, was " + kvCapacityTokens);
        }
        if (prefillTokenBudget < 1) {
            throw new IllegalArgumentException("prefillTokenBudget must be >= 1, was " + prefillTokenBudget);
        }
        if (maxRunningRequests < 1) {
            throw new IllegalArgumentException("maxRunningRequests must be >= 1, was " + maxRunningRequests);
        }
    }

    /**
     * A profile without step overhead and whose decode cost does not depend on context length (the
     * cost model before issue 14): {@code stepOverheadMillis} and {@code decodeMillisPerContextToken}
     * are 0.
     */
    public EngineProfile(
            String name,
            double prefillTokensPerSecond,
            double decodeStepBaseMillis,
            double decodeMillisPerSequence,
            long kvCapacityTokens,
            int prefillTokenBudget,
            int maxRunningRequests) {
        this(
                name,
                prefillTokensPerSecond,
                0,
                decodeStepBaseMillis,
                decodeMillisPerSequence,
                0,
                kvCapacityTokens,
                prefillTokenBudget,
                maxRunningRequests);
    }

    /**
     * Looks a built-in profile up by name, ignoring case.
     *
     * @throws IllegalArgumentException for an unknown name; the message lists the known ones
     */
    public static EngineProfile named(String name) {
        Objects.requireNonNull(name, "name");
        String wanted = name.trim().toLowerCase(Locale.ROOT);
        return KNOWN.stream()
                .filter(profile -> profile.name().equals(wanted))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException(
                        "unknown engine profile '" + name + "'; known profiles: " + knownNames()));
    }

    /** The names {@link #named(String)} accepts, comma-separated. */
    public static String knownNames() {
        return KNOWN.stream().map(EngineProfile::name).collect(Collectors.joining(", "));
    }

    /**
     * Simulated duration of one step, in milliseconds, before any speedup; 0 for a step with nothing
     * to prefill or emit.
     *
     * @param prefillTokens prompt tokens computed in the step (cache hits excluded)
     * @param emittingSequences sequences that produce an output token at the end of the step
     * @param emittingContextTokens the emitting sequences' contexts added up: for each, its prompt
     *     length plus the output tokens it emitted before this step
     */
    public double stepMillis(long prefillTokens, int emittingSequences, long emittingContextTokens) {
        if (prefillTokens == 0 && emittingSequences == 0) {
            return 0;
        }
        return workMillis(1, prefillTokens, emittingSequences, emittingContextTokens);
    }

    /**
     * Simulated duration of {@code steps} non-empty steps that together prefill {@code prefillTokens},
     * emit {@code emittedTokens} and read {@code contextTokens} of context for them: the sum of their
     * {@link #stepMillis} (the formula is linear). This is THE cost formula; {@link #stepMillis} and the
     * benchmarks' ideal-schedule bound both call it.
     */
    public double workMillis(long steps, long prefillTokens, long emittedTokens, long contextTokens) {
        double prefillMillis =
                Double.isInfinite(prefillTokensPerSecond) ? 0 : prefillTokens * 1000.0 / prefillTokensPerSecond;
        return steps * (stepOverheadMillis + decodeStepBaseMillis)
                + prefillMillis
                + emittedTokens * decodeMillisPerSequence
                + contextTokens * decodeMillisPerContextToken;
    }

    /**
     * Simulated milliseconds per output token of one sequence decoding alone at the given context
     * (batch 1): {@code 1000 / } this is its decode speed in tokens per second.
     */
    public double soloDecodeMillis(long contextTokens) {
        return stepMillis(0, 1, contextTokens);
    }

    /** True when every step costs nothing, so the scheduler never sleeps. */
    public boolean isFree() {
        return Double.isInfinite(prefillTokensPerSecond)
                && stepOverheadMillis == 0
                && decodeStepBaseMillis == 0
                && decodeMillisPerSequence == 0
                && decodeMillisPerContextToken == 0;
    }

    /**
     * The derivation of {@link #H100_QWEN32B} from public figures. Each constant is stated once here
     * and repeated, with its source, in the module README.
     */
    static final class H100Qwen32b {
        // Qwen2.5-32B-Instruct config.json.
        static final long VOCAB = 152_064;
        static final long HIDDEN = 5_120;
        static final long INTERMEDIATE = 27_648;
        static final int LAYERS = 64;
        static final int ATTENTION_HEADS = 40;
        static final int KV_HEADS = 8;
        static final int HEAD_DIM = 128;

        /**
         * Parameters counted from the config: untied embedding and LM head (2 x V x H), per layer the
         * q, k, v projections with their biases, o, the gated MLP (3 x H x I) and two RMSNorms, and the
         * final norm: 32,763,876,352 (the model card rounds to 32.5 B).
         */
        static final long PARAMETERS = 2 * VOCAB * HIDDEN
                + LAYERS
                        * (HIDDEN * (ATTENTION_HEADS * HEAD_DIM)
                                + ATTENTION_HEADS * HEAD_DIM
                                + 2 * (HIDDEN * (KV_HEADS * HEAD_DIM) + KV_HEADS * HEAD_DIM)
                                + (ATTENTION_HEADS * HEAD_DIM) * HIDDEN
                                + 3 * HIDDEN * INTERMEDIATE
                                + 2 * HIDDEN)
                + HIDDEN;

        static final double BYTES_PER_PARAMETER = 2; // BF16
        /** 65.53 GB = 61.03 GiB, what vLLM reports loading for this model. */
        static final double WEIGHT_BYTES = PARAMETERS * BYTES_PER_PARAMETER;
        /** H100 SXM5 dense BF16 tensor throughput (the 1,979 TFLOPS figure assumes 2:4 sparsity). */
        static final double PEAK_BF16_FLOPS = 989.4e12;
        /** H100 SXM5 HBM3 bandwidth. */
        static final double HBM_BYTES_PER_SECOND = 3.35e12;
        /** Share of the HBM bandwidth decode kernels reach (weight GEMVs and attention reads). */
        static final double HBM_EFFICIENCY = 0.85;
        /** Model FLOPs utilisation assumed for large chunked-prefill batches and per-token matmuls. */
        static final double MFU = 0.5;
        /** CPU time per step not hidden behind the GPU: scheduling, sampling, launching. */
        static final double STEP_OVERHEAD_MILLIS = 1.5;
        /** Memory an 80 GB H100 reports (nvidia-smi: 81,559 MiB). */
        static final double GPU_MEMORY_BYTES = 81_559.0 * 1024 * 1024;
        /** vLLM's default --gpu-memory-utilization: weights, activations and KV pool together. */
        static final double MEMORY_UTILISATION = 0.9;
        /** SGLang's default --chunked-prefill-size on an 80 GB H100; also the activation profiling batch. */
        static final int CHUNKED_PREFILL_SIZE = 8192;
        /**
         * Peak activation of a forward pass over one prefill chunk: the MLP's gate and up outputs,
         * 8,192 tokens x 2 x 27,648 x 2 bytes = 864 MiB.
         */
        static final double ACTIVATION_BYTES = (double) CHUNKED_PREFILL_SIZE * 2 * INTERMEDIATE * 2;
        /** Non-torch memory (CUDA context, cuBLAS and NCCL workspaces) and CUDA graphs: an assumption. */
        static final double RUNTIME_RESERVE_BYTES = 256.0 * 1024 * 1024;
        /** K and V, per layer, per KV head, per head dimension, BF16: 262,144 bytes = 256 KiB. */
        static final double KV_BYTES_PER_TOKEN = 2.0 * LAYERS * KV_HEADS * HEAD_DIM * 2;
        /** A round ceiling near SGLang's CUDA-graph batch sizes; the KV pool binds first in practice. */
        static final int MAX_RUNNING_REQUESTS = 256;

        private H100Qwen32b() {}

        static EngineProfile derive() {
            double flopsPerToken = 2.0 * PARAMETERS;
            double effectiveBandwidth = HBM_BYTES_PER_SECOND * HBM_EFFICIENCY;
            double prefillTokensPerSecond = PEAK_BF16_FLOPS * MFU / flopsPerToken;
            double decodeBaseMillis = WEIGHT_BYTES / effectiveBandwidth * 1000;
            double tokenComputeMillis = flopsPerToken / (PEAK_BF16_FLOPS * MFU) * 1000;
            double kvReadMillisPerToken = KV_BYTES_PER_TOKEN / effectiveBandwidth * 1000;
            long kvCapacity = (long) Math.floor(
                    (GPU_MEMORY_BYTES * MEMORY_UTILISATION - WEIGHT_BYTES - ACTIVATION_BYTES - RUNTIME_RESERVE_BYTES)
                            / KV_BYTES_PER_TOKEN);
            return new EngineProfile(
                    "h100-qwen2.5-32b",
                    round(prefillTokensPerSecond, 0),
                    STEP_OVERHEAD_MILLIS,
                    round(decodeBaseMillis, 2),
                    round(tokenComputeMillis, 3),
                    round(kvReadMillisPerToken, 7),
                    kvCapacity,
                    CHUNKED_PREFILL_SIZE,
                    MAX_RUNNING_REQUESTS);
        }

        private static double round(double value, int decimals) {
            double scale = Math.pow(10, decimals);
            return Math.round(value * scale) / scale;
        }
    }

    @Override
    public String toString() {
        return name
                + Arrays.toString(new Object[] {
                    "prefill=" + prefillTokensPerSecond + " tok/s",
                    "stepOverhead=" + stepOverheadMillis + " ms",
                    "decodeBase=" + decodeStepBaseMillis + " ms",
                    "perSequence=" + decodeMillisPerSequence + " ms",
                    "perContextToken=" + decodeMillisPerContextToken + " ms",
                    "kv=" + kvCapacityTokens + " tok",
                    "prefillBudget=" + prefillTokenBudget,
                    "maxRunning=" + maxRunningRequests
                });
    }
}
