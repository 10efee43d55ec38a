-- pgbench script: a batch claim of 10 rows + their completion, two autocommit SQL
-- transactions (the SQL minimum of jobnikd's batch claim + batch report, limit 10).
-- pgbench counts one execution of this script as one "transaction": tasks/s is its tps
-- x 10 (run-baseline.sh checks that every execution claimed and completed 10 rows).
-- The aggregate always returns one row, so \gset never fails; :claimed is 0 when the
-- claim came back empty, and the completion is then skipped.
WITH c AS (
  UPDATE bench_baseline.task SET status = 'IN_PROGRESS', start_time = now(), update_time = now()
  WHERE id IN (SELECT id FROM bench_baseline.task
               WHERE stage_type = 'bench' AND status IN ('PENDING', 'RETRIED')
               ORDER BY priority, seq LIMIT 10 FOR UPDATE SKIP LOCKED)
  RETURNING id)
SELECT coalesce(array_agg(id), '{}')::text AS ids, (count(*) > 0)::int AS claimed FROM c \gset
\if :claimed
UPDATE bench_baseline.task SET status = 'COMPLETED', end_time = now(), update_time = now()
WHERE id = ANY (:ids::uuid[]);
\endif
