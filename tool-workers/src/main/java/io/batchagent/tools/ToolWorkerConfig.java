package io.batchagent.tools;

import java.util.Map;
import java.util.TreeMap;

/**
 * Settings of a {@link ToolWorker}, validated when constructed. A {@code null} component takes its
 * default.
 *
 * @param groupId the consumer group of the tool workers; default {@value #DEFAULT_GROUP_ID}
 * @param maxConcurrency tool calls processed at once per worker, 1 to {@value #MAX_CONCURRENCY_LIMIT};
 *     each running call holds a platform thread; default {@value #DEFAULT_MAX_CONCURRENCY}
 * @param toolOptions options for the installed tools, keyed {@code <tool>.<option>} (for example
 *     {@code sim_search.latency.ms}); each tool receives its own, without the prefix, through
 *     {@link Tool#configure}; default none
 * @param cacheMaxEntries the most results the in-process result cache keeps; 0 turns it off;
 *     default {@value #DEFAULT_CACHE_MAX_ENTRIES}
 */
public record ToolWorkerConfig(String groupId, Integer maxConcurrency, Map<String, String> toolOptions,
                               Long cacheMaxEntries) {

    public static final String DEFAULT_GROUP_ID = "batchagent-tools";
    public static final int DEFAULT_MAX_CONCURRENCY = 64;
    public static final int MAX_CONCURRENCY_LIMIT = 4096;
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
        toolOptions = toolOptions == null ? Map.of() : copyValidated(toolOptions);
        cacheMaxEntries = cacheMaxEntries == null ? DEFAULT_CACHE_MAX_ENTRIES : cacheMaxEntries;
        if (cacheMaxEntries < 0) {
            throw new IllegalArgumentException("cacheMaxEntries must be 0 (no cache) or more, got " + cacheMaxEntries);
        }
    }

    /** Every setting at its default. */
    public static ToolWorkerConfig defaults() {
        return new ToolWorkerConfig(null, null, null, null);
    }

    public ToolWorkerConfig withGroupId(String id) {
        return new ToolWorkerConfig(id, maxConcurrency, toolOptions, cacheMaxEntries);
    }

    public ToolWorkerConfig withMaxConcurrency(int concurrency) {
        return new ToolWorkerConfig(groupId, concurrency, toolOptions, cacheMaxEntries);
    }

    public ToolWorkerConfig withToolOptions(Map<String, String> options) {
        return new ToolWorkerConfig(groupId, maxConcurrency, options, cacheMaxEntries);
    }

    public ToolWorkerConfig withCacheMaxEntries(long entries) {
        return new ToolWorkerConfig(groupId, maxConcurrency, toolOptions, entries);
    }

    private static Map<String, String> copyValidated(Map<String, String> options) {
        Map<String, String> copy = new TreeMap<>();
        options.forEach((key, value) -> {
            int dot = key == null ? -1 : key.indexOf('.');
            if (dot < 1 || dot == key.length() - 1) {
                throw new IllegalArgumentException("tool option '" + key
                        + "' must be named <tool>.<option>, e.g. sim_search.latency.ms");
            }
            if (value == null) {
                throw new IllegalArgumentException("tool option '" + key + "' has no value");
            }
            copy.put(key, value);
        });
        return Map.copyOf(copy);
    }
}
