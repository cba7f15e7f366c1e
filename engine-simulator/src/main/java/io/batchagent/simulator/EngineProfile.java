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
 * <p>One scheduler step costs {@code prefillTokens / prefillTokensPerSecond + decodeStepBaseMillis +
 * decodeMillisPerSequence * sequencesEmittingATokenThisStep} (see {@link #stepMillis}). A step that
 * has nothing to do is never run, so an idle engine costs nothing.
 *
 * @param name the name {@link #named(String)} looks the profile up by
 * @param prefillTokensPerSecond prefill compute rate; {@link Double#POSITIVE_INFINITY} makes prefill free
 * @param decodeStepBaseMillis fixed cost of any forward step (reading the weights once)
 * @param decodeMillisPerSequence extra cost per sequence that emits a token in the step
 * @param kvCapacityTokens tokens the KV pool holds: cached prefixes plus running requests
 * @param prefillTokenBudget most prompt tokens prefilled in one step (chunked prefill)
 * @param maxRunningRequests most requests in the running batch at once
 */
public record EngineProfile(
        String name,
        double prefillTokensPerSecond,
        double decodeStepBaseMillis,
        double decodeMillisPerSequence,
        long kvCapacityTokens,
        int prefillTokenBudget,
        int maxRunningRequests) {

    /**
     * Zero cost for everything and a large KV pool: steps take no time at all. For tests and the
     * scale benchmark, where only the accounting (prompt, cached and prefill tokens) matters.
     */
    public static final EngineProfile INSTANT =
            new EngineProfile("instant", Double.POSITIVE_INFINITY, 0, 0, 16L << 20, 1 << 18, 4096);

    /**
     * One H100 SXM 80 GB serving Qwen2.5-32B-Instruct in BF16 with SGLang defaults, derived from
     * public figures (see the module README for the derivation); name {@code h100-qwen2.5-32b}.
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
        if (!(decodeStepBaseMillis >= 0)
                || !(decodeMillisPerSequence >= 0)
                || Double.isInfinite(decodeStepBaseMillis)
                || Double.isInfinite(decodeMillisPerSequence)) {
            throw new IllegalArgumentException("decode costs must be finite and >= 0");
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
     * Simulated duration of one step, in milliseconds, before any speedup.
     *
     * @param prefillTokens prompt tokens computed in the step (cache hits excluded)
     * @param emittingSequences sequences that produce an output token at the end of the step
     */
    public double stepMillis(long prefillTokens, int emittingSequences) {
        if (prefillTokens == 0 && emittingSequences == 0) {
            return 0;
        }
        double prefillMillis =
                Double.isInfinite(prefillTokensPerSecond) ? 0 : prefillTokens * 1000.0 / prefillTokensPerSecond;
        return prefillMillis + decodeStepBaseMillis + decodeMillisPerSequence * emittingSequences;
    }

    /** True when every step costs nothing, so the scheduler never sleeps. */
    public boolean isFree() {
        return Double.isInfinite(prefillTokensPerSecond) && decodeStepBaseMillis == 0 && decodeMillisPerSequence == 0;
    }

    /**
     * The derivation of {@link #H100_QWEN32B} from public figures. Each constant is stated once here
     * and repeated, with its source, in the module README.
     */
    static final class H100Qwen32b {
        /** Qwen2.5-32B: 32.5 B parameters (31.0 B non-embedding + untied 152,064 x 5,120 embedding and head). */
        static final double PARAMETERS = 32.5e9;

        static final double BYTES_PER_PARAMETER = 2; // BF16
        /** H100 SXM5 dense BF16 tensor throughput (the 1,979 TFLOPS figure assumes 2:4 sparsity). */
        static final double PEAK_BF16_FLOPS = 989.4e12;
        /** H100 SXM5 HBM3 bandwidth. */
        static final double HBM_BYTES_PER_SECOND = 3.35e12;
        /** Model FLOPs utilisation assumed for large chunked-prefill batches. */
        static final double PREFILL_MFU = 0.5;
        /** Memory an 80 GB H100 reports (nvidia-smi: 81,559 MiB). */
        static final double GPU_MEMORY_BYTES = 81_559.0 * 1024 * 1024;
        /** SGLang's default --mem-fraction-static for one GPU: weights plus KV pool. */
        static final double MEM_FRACTION_STATIC = 0.88;

        static final int LAYERS = 64;
        static final int KV_HEADS = 8;
        static final int HEAD_DIM = 128;
        /** K and V, per layer, per KV head, per head dimension, BF16: 262,144 bytes = 256 KiB. */
        static final double KV_BYTES_PER_TOKEN = 2.0 * LAYERS * KV_HEADS * HEAD_DIM * 2;
        /** Context length at which the per-sequence decode cost (its KV read) is evaluated. */
        static final int TYPICAL_CONTEXT_TOKENS = 4096;
        /** SGLang's default --chunked-prefill-size on an 80 GB H100. */
        static final int CHUNKED_PREFILL_SIZE = 8192;
        /** A round ceiling near SGLang's CUDA-graph batch sizes; the KV pool binds first in practice. */
        static final int MAX_RUNNING_REQUESTS = 256;

        private H100Qwen32b() {}

        static EngineProfile derive() {
            double weightBytes = PARAMETERS * BYTES_PER_PARAMETER;
            double flopsPerToken = 2 * PARAMETERS;
            double prefillTokensPerSecond = PEAK_BF16_FLOPS * PREFILL_MFU / flopsPerToken;
            double decodeBaseMillis = weightBytes / HBM_BYTES_PER_SECOND * 1000;
            double kvReadMillis = TYPICAL_CONTEXT_TOKENS * KV_BYTES_PER_TOKEN / HBM_BYTES_PER_SECOND * 1000;
            double tokenComputeMillis = flopsPerToken / (PEAK_BF16_FLOPS * PREFILL_MFU) * 1000;
            long kvCapacity =
                    (long) Math.floor((GPU_MEMORY_BYTES * MEM_FRACTION_STATIC - weightBytes) / KV_BYTES_PER_TOKEN);
            return new EngineProfile(
                    "h100-qwen2.5-32b",
                    round(prefillTokensPerSecond, 0),
                    round(decodeBaseMillis, 2),
                    round(kvReadMillis + tokenComputeMillis, 3),
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
                    "decodeBase=" + decodeStepBaseMillis + " ms",
                    "perSequence=" + decodeMillisPerSequence + " ms",
                    "kv=" + kvCapacityTokens + " tok",
                    "prefillBudget=" + prefillTokenBudget,
                    "maxRunning=" + maxRunningRequests
                });
    }
}
