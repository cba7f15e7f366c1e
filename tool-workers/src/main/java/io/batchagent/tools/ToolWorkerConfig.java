package io.batchagent.tools;

import io.batchagent.tools.mcp.McpServerConfig;
import io.batchagent.tools.redis.RedisSettings;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Settings of a {@link ToolWorker}, validated when constructed. A {@code null} component takes its
 * default.
 *
 * @param groupId the consumer group of the tool workers; default {@value #DEFAULT_GROUP_ID}
 * @param maxConcurrency tool calls processed at once per worker, 1 to {@value #MAX_CONCURRENCY_LIMIT};
 *     each running call holds a platform thread; default {@value #DEFAULT_MAX_CONCURRENCY}. A call
 *     waiting for its tool's rate or concurrency limit counts against it too. It is also the most
 *     threads one tool may hold on this worker.
 * @param maxToolThreads the most threads this worker's tools run on, from {@code maxConcurrency} to
 *     {@value #MAX_TOOL_THREADS_LIMIT}; default twice {@code maxConcurrency}. A call that times out
 *     keeps its thread until its code returns (a tool may ignore interruption), so the headroom
 *     above {@code maxConcurrency} lets other tools run while one tool's executions linger; a tool
 *     whose {@code maxConcurrency} threads are all taken gets no more, and its calls wait (and time
 *     out) instead
 * @param toolOptions options for the installed tools, keyed {@code <tool>.<option>} (for example
 *     {@code sim_search.latency.ms}); each tool receives its own, without the prefix, through
 *     {@link Tool#configure}; default none
 * @param cacheMaxEntries the most results the in-process result cache keeps, used when no Redis is
 *     configured; 0 turns it off; default {@value #DEFAULT_CACHE_MAX_ENTRIES}
 * @param redis where the result cache and the tools' rate and concurrency limits are shared by all
 *     workers; null (the default) keeps both in this process
 * @param mcpServers the MCP servers whose tools batches may declare (by server name); default none
 * @param httpToolHosts the hosts that HTTP tools declared by batches ({@code ToolSpec.httpUrl}) may
 *     POST to: exact names, {@code *.example.com} for subdomains, or {@code *} for any host; default
 *     none, so that a batch cannot make workers call an address their operator did not allow
 */
public record ToolWorkerConfig(
        String groupId,
        Integer maxConcurrency,
        Map<String, String> toolOptions,
        Long cacheMaxEntries,
        RedisSettings redis,
        List<McpServerConfig> mcpServers,
        Set<String> httpToolHosts,
        Integer maxToolThreads) {

    public static final String DEFAULT_GROUP_ID = "batchagent-tools";
    public static final int DEFAULT_MAX_CONCURRENCY = 64;
    public static final int MAX_CONCURRENCY_LIMIT = 4096;
    public static final int MAX_TOOL_THREADS_LIMIT = 2 * MAX_CONCURRENCY_LIMIT;
    public static final long DEFAULT_CACHE_MAX_ENTRIES = 10_000;

    public ToolWorkerConfig {
        groupId = groupId == null ? DEFAULT_GROUP_ID : groupId;
        if (groupId.isBlank()) {
            throw new IllegalArgumentException("groupId must not be blank");
        }
        maxConcurrency = maxConcurrency == null ? DEFAULT_MAX_CONCURRENCY : maxConcurrency;
        if (maxConcurrency < 1 || maxConcurrency > MAX_CONCURRENCY_LIMIT) {
            throw new IllegalArgumentException("maxConcurrency must be between 1 and " + MAX_CONCURRENCY_LIMIT
                    + " (each running tool call holds a thread), got " + maxConcurrency);
        }
        maxToolThreads = maxToolThreads == null ? 2 * maxConcurrency : maxToolThreads;
        if (maxToolThreads < maxConcurrency || maxToolThreads > MAX_TOOL_THREADS_LIMIT) {
            throw new IllegalArgumentException("maxToolThreads must be between maxConcurrency (" + maxConcurrency
                    + ") and " + MAX_TOOL_THREADS_LIMIT + ", got " + maxToolThreads);
        }
        toolOptions = toolOptions == null ? Map.of() : copyValidated(toolOptions);
        cacheMaxEntries = cacheMaxEntries == null ? DEFAULT_CACHE_MAX_ENTRIES : cacheMaxEntries;
        if (cacheMaxEntries < 0) {
            throw new IllegalArgumentException("cacheMaxEntries must be 0 (no cache) or more, got " + cacheMaxEntries);
        }
        mcpServers = mcpServers == null ? List.of() : List.copyOf(mcpServers);
        if (mcpServers.stream().map(McpServerConfig::name).distinct().count() != mcpServers.size()) {
            throw new IllegalArgumentException("MCP server names must be unique, got "
                    + mcpServers.stream().map(McpServerConfig::name).toList());
        }
        httpToolHosts = httpToolHosts == null ? Set.of() : normalisedHosts(httpToolHosts);
    }

    /** Every setting at its default. */
    public static ToolWorkerConfig defaults() {
        return new ToolWorkerConfig(null, null, null, null, null, null, null, null);
    }

    public ToolWorkerConfig withGroupId(String id) {
        return new ToolWorkerConfig(
                id, maxConcurrency, toolOptions, cacheMaxEntries, redis, mcpServers, httpToolHosts, maxToolThreads);
    }

    /** Sets {@code maxConcurrency} and puts {@code maxToolThreads} back to its default for it (twice as many). */
    public ToolWorkerConfig withMaxConcurrency(int concurrency) {
        return new ToolWorkerConfig(
                groupId, concurrency, toolOptions, cacheMaxEntries, redis, mcpServers, httpToolHosts, null);
    }

    public ToolWorkerConfig withToolOptions(Map<String, String> options) {
        return new ToolWorkerConfig(
                groupId, maxConcurrency, options, cacheMaxEntries, redis, mcpServers, httpToolHosts, maxToolThreads);
    }

    /** The most threads this worker's tools run on; see the record's documentation. */
    public ToolWorkerConfig withMaxToolThreads(int threads) {
        return new ToolWorkerConfig(
                groupId, maxConcurrency, toolOptions, cacheMaxEntries, redis, mcpServers, httpToolHosts, threads);
    }

    public ToolWorkerConfig withCacheMaxEntries(long entries) {
        return new ToolWorkerConfig(
                groupId, maxConcurrency, toolOptions, entries, redis, mcpServers, httpToolHosts, maxToolThreads);
    }

    /** Shares the result cache and the limits through Redis; null keeps them in this process. */
    public ToolWorkerConfig withRedis(RedisSettings settings) {
        return new ToolWorkerConfig(
                groupId,
                maxConcurrency,
                toolOptions,
                cacheMaxEntries,
                settings,
                mcpServers,
                httpToolHosts,
                maxToolThreads);
    }

    public ToolWorkerConfig withMcpServers(List<McpServerConfig> servers) {
        return new ToolWorkerConfig(
                groupId, maxConcurrency, toolOptions, cacheMaxEntries, redis, servers, httpToolHosts, maxToolThreads);
    }

    public ToolWorkerConfig withHttpToolHosts(Set<String> hosts) {
        return new ToolWorkerConfig(
                groupId, maxConcurrency, toolOptions, cacheMaxEntries, redis, mcpServers, hosts, maxToolThreads);
    }

    /** Tool option values are masked: they may hold keys and passwords. */
    @Override
    public String toString() {
        return "ToolWorkerConfig[groupId=" + groupId + ", maxConcurrency=" + maxConcurrency
                + ", maxToolThreads=" + maxToolThreads + ", toolOptions=" + toolOptions.keySet()
                + " (values masked), cacheMaxEntries=" + cacheMaxEntries
                + ", redis=" + redis + ", mcpServers=" + mcpServers + ", httpToolHosts=" + httpToolHosts + "]";
    }

    private static Map<String, String> copyValidated(Map<String, String> options) {
        Map<String, String> copy = new TreeMap<>();
        options.forEach((key, value) -> {
            int dot = key == null ? -1 : key.indexOf('.');
            if (dot < 1 || dot == key.length() - 1) {
                throw new IllegalArgumentException(
                        "tool option '" + key + "' must be named <tool>.<option>, e.g. sim_search.latency.ms");
            }
            if (value == null) {
                throw new IllegalArgumentException("tool option '" + key + "' has no value");
            }
            copy.put(key, value);
        });
        return Map.copyOf(copy);
    }

    private static Set<String> normalisedHosts(Set<String> hosts) {
        Set<String> copy = new TreeSet<>();
        for (String host : hosts) {
            String h = host == null ? "" : host.strip().toLowerCase(Locale.ROOT);
            if (h.isEmpty()
                    || h.contains("/")
                    || h.contains(":")
                    || (h.contains("*") && !h.equals("*") && !h.startsWith("*."))) {
                throw new IllegalArgumentException("HTTP tool host '" + host
                        + "' must be a host name, '*.domain' for its subdomains, or '*' for any host");
            }
            copy.add(h);
        }
        return Set.copyOf(copy);
    }
}
