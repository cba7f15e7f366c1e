-- One row per batch over the JDBC sink's table (latest state per job): how many jobs ended how, tokens, turns,
-- tool calls and when the batch's last result arrived. A view, so it is always current; run it once the sink
-- has created batchagent_results (its first record does).
CREATE OR REPLACE VIEW batchagent_batch_summary AS
SELECT batch_id,
       count(*)                                          AS jobs,
       count(*) FILTER (WHERE status = 'SUCCEEDED')      AS succeeded,
       count(*) FILTER (WHERE status = 'FAILED')         AS failed,
       count(*) FILTER (WHERE status = 'CANCELLED')      AS cancelled,
       max(attempt)                                      AS max_attempt,
       sum(turns)                                        AS turns,
       sum(usage_prompt_tokens)                          AS prompt_tokens,
       sum(usage_cached_prompt_tokens)                   AS cached_prompt_tokens,
       sum(usage_completion_tokens)                      AS completion_tokens,
       sum(tool_calls_requested)                         AS tool_calls_requested,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY timings_total_ms) AS median_total_ms,
       min(finished_at)                                  AS first_finished_at,
       max(finished_at)                                  AS last_finished_at
FROM batchagent_results
GROUP BY batch_id;
