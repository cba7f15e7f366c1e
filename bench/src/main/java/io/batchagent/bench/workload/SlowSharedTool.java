package io.batchagent.bench.workload;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * W2, the slow shared tool (BENCHMARKS.md): 100 jobs over 10 companies and 10 distinct queries, an
 * 800 ms {@code slow_company_lookup}, max_inflight 32, a ~2,058-token shared prompt.
 */
public final class SlowSharedTool {

    static final List<String> COMPANIES = List.of(
            "NVIDIA",
            "OpenAI",
            "Anthropic",
            "vLLM",
            "SGLang",
            "Meta AI",
            "Google DeepMind",
            "AWS Bedrock",
            "Together AI",
            "LMCache");

    static final String INSTRUCTION = "You are a research assistant comparing how inference providers share KV cache "
            + "across agents. For each company, call slow_company_lookup once with the given query, then answer. "
            + "Final answers must be JSON matching the requested schema.";

    static final String TASK = "Company: {company}. Query: {query}.";

    static final String SCHEMA = "{\"type\":\"object\",\"properties\":{\"company\":{\"type\":\"string\"},"
            + "\"summary\":{\"type\":\"string\"},\"source_count\":{\"type\":\"integer\",\"minimum\":0}},"
            + "\"required\":[\"company\",\"summary\",\"source_count\"],\"additionalProperties\":false}";

    static final String SIM_TOOL_RULE = "slow_company_lookup.query=Query: ([\\w-]+)";

    private SlowSharedTool() {}

    public static BatchShape shape(String model) {
        List<String> inputs = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            ObjectNode input = JsonNodeFactory.instance.objectNode();
            input.put("company", COMPANIES.get(i % 10)).put("query", "kv-cache-shared-query-" + (i % 10));
            inputs.add(input.toString());
        }
        return new BatchShape(
                Prompts.padToTokens(INSTRUCTION, "filler", 2_058),
                TASK,
                inputs,
                List.of(BatchShape.tool(
                        "slow_company_lookup",
                        "Look up shared KV-cache research notes for a query (slow).",
                        new io.batchagent.bench.tools.SlowCompanyLookupTool().parametersJson(),
                        10_000,
                        true,
                        600_000)),
                SCHEMA,
                model,
                4,
                256);
    }

    public static Path run(BenchOptions options) throws Exception {
        return AbWorkload.run(
                options,
                new AbWorkload.Definition(
                        "w2-slow-tool",
                        "W2 slow shared tool (N=100, 10 keys, 800 ms tool, max_inflight 32)",
                        List.of(new AbWorkload.Case("N=100", shape(options.model()), 10)),
                        32,
                        SIM_TOOL_RULE,
                        Map.of("slow_company_lookup.latency.ms", "800"),
                        "1.29-1.78x wall (Dynamo, H100, 32B: 10.50 -> 5.91 s); TTFT p95 1.55 -> 0.59 s; 100 -> 10 executions"));
    }
}
