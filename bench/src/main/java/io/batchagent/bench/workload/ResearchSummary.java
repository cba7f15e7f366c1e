package io.batchagent.bench.workload;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * W1, the research summary (BENCHMARKS.md): 20 papers over 9 topics, a 400 ms search tool
 * ({@code bench_web_search}: the name {@code web_search} belongs to the tool workers' real one) whose
 * query depends only on the topic, two turns, max_inflight 8; shared prompts of 2,048 and 6,000
 * tokens.
 */
public final class ResearchSummary {

    /** Paper id, title, topic: the original's 20 papers. */
    static final List<String[]> PAPERS = List.of(
            new String[] {"1706.03762", "Attention Is All You Need", "transformer attention"},
            new String[] {"1810.04805", "BERT: Pre-training of Deep Bidirectional Transformers", "transformer attention"
            },
            new String[] {"2005.14165", "Language Models are Few-Shot Learners", "foundation models"},
            new String[] {
                "2203.02155", "Training language models to follow instructions with human feedback", "foundation models"
            },
            new String[] {"2307.08691", "FlashAttention-2", "attention kernels"},
            new String[] {"2205.14135", "FlashAttention", "attention kernels"},
            new String[] {
                "2309.06180", "Efficient Memory Management for LLM Serving with PagedAttention", "kv cache serving"
            },
            new String[] {"2402.14837", "KV cache serving paper 2402.14837", "kv cache serving"},
            new String[] {"2507.07400", "KVFlow", "workflow kv cache"},
            new String[] {"2510.09665", "LMCache", "workflow kv cache"},
            new String[] {"2604.03143", "TokenDance", "multi-agent kv cache"},
            new String[] {"2401.08671", "DeepSpeed-FastGen", "serving systems"},
            new String[] {"2308.16369", "SARATHI", "serving systems"},
            new String[] {"2405.04434", "DeepSeek-V2", "serving systems"},
            new String[] {"2312.07104", "SGLang", "serving systems"},
            new String[] {"2406.14086", "Inference routing paper 2406.14086", "inference routing"},
            new String[] {"2406.04692", "Inference routing paper 2406.04692", "inference routing"},
            new String[] {"2302.01318", "Tool-using agents paper 2302.01318", "tool-using agents"},
            new String[] {"2210.03629", "ReAct", "tool-using agents"},
            new String[] {"2303.11366", "Reflexion", "tool-using agents"});

    static final String INSTRUCTION = "You are a systems research analyst benchmarking multi-turn agents. "
            + "For each paper you are given, use the bench_web_search tool once for recent context on the paper's topic. "
            + "Then write a compact research summary with the paper's contribution and its relevance. "
            + "Final answers must be JSON matching the requested schema.";

    static final String TASK =
            "Paper ID: {paper_id}\nTitle: {title}\nTopic: {topic}\n\nTask: use bench_web_search for recent "
                    + "context on the paper's topic, then produce a compact research summary with contribution and relevance.";

    static final String SCHEMA = "{\"type\":\"object\",\"properties\":{\"paper_id\":{\"type\":\"string\"},"
            + "\"title\":{\"type\":\"string\"},\"topic\":{\"type\":\"string\"},\"contribution\":{\"type\":\"string\"},"
            + "\"relevance\":{\"type\":\"string\"},\"turns\":{\"type\":\"integer\",\"minimum\":1},"
            + "\"sources_used\":{\"type\":\"integer\",\"minimum\":0}},\"required\":[\"paper_id\",\"title\",\"topic\","
            + "\"contribution\",\"relevance\",\"turns\",\"sources_used\"],\"additionalProperties\":false}";

    /** The scripted model's call: the original's query for the job's topic, 5 results. */
    static final String SIM_TOOL_RULE =
            "bench_web_search.query=Topic: (.*)=>systems research context for $1,bench_web_search.num_results=()=>5";

    /** Enough for the scripted answers to complete (the original's 8 would cut them; see the simulator's README). */
    static final int MAX_TOKENS = 256;

    private ResearchSummary() {}

    public static BatchShape shape(int promptTokens, String model) {
        List<String> inputs = new ArrayList<>();
        for (String[] paper : PAPERS) {
            ObjectNode input = JsonNodeFactory.instance.objectNode();
            input.put("paper_id", paper[0]).put("title", paper[1]).put("topic", paper[2]);
            inputs.add(input.toString());
        }
        String system = Prompts.padToTokens(INSTRUCTION, "filler", promptTokens);
        return new BatchShape(
                system,
                TASK,
                inputs,
                List.of(BatchShape.tool(
                        io.batchagent.bench.tools.WebSearchTool.NAME,
                        "Search the web for recent context on a topic.",
                        new io.batchagent.bench.tools.WebSearchTool().parametersJson(),
                        10_000,
                        true,
                        600_000)),
                SCHEMA,
                model,
                4,
                MAX_TOKENS);
    }

    public static Path run(BenchOptions options) throws Exception {
        long distinct = PAPERS.stream().map(p -> p[2]).distinct().count();
        List<AbWorkload.Case> cases = List.of(
                new AbWorkload.Case("prompt 2,048 tokens", shape(2_048, options.model()), distinct),
                new AbWorkload.Case("prompt 6,000 tokens", shape(6_000, options.model()), distinct));
        return AbWorkload.run(
                options,
                new AbWorkload.Definition(
                        "w1-research",
                        "W1 research summary (20 papers, 9 topics, 400 ms search tool, max_inflight 8)",
                        cases,
                        8,
                        SIM_TOOL_RULE,
                        Map.of("bench_web_search.latency.ms", "400"),
                        "1.57-2.01x on real H100s (Dynamo 5.105 -> 3.242 s, SGLang 6.361 -> 3.158 s, vLLM 4.765 -> 2.766 s); 20 -> 9 searches; TTFT p95 A 1.2-2.6 s, C 0.22-0.31 s; hit rate C 97.5-98.8%"));
    }
}
