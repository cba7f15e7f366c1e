-- The Iceberg table keeps every result record (history: a job retried with --retry-failed has one row per
-- attempt, and a replayed record may repeat). The latest per job, as the JDBC sink's table holds it, in
-- Spark SQL or Trino (catalog named as the sink's iceberg.catalog, here batchagent):
CREATE OR REPLACE VIEW batchagent.results_latest AS
SELECT *
FROM (
  SELECT r.*,
         row_number() OVER (PARTITION BY job_id ORDER BY attempt DESC, finished_at_ms DESC) AS rn
  FROM batchagent.results r
) latest
WHERE rn = 1;
