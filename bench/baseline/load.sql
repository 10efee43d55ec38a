-- Resets bench_baseline.task to :rows PENDING rows, all priority 3, data {"i":N}.
-- :types = 1: every row has stage_type 'bench' (claim_done.sql);
-- :types = T > 1: row N has stage_type 'bench' || (N % T) (claim_done_16types.sql).
-- Then VACUUM ANALYZE (pgbench runs with -n) and CHECKPOINT, so every run starts
-- from the same state: fresh table, identity restarted, no pending checkpoint work.
\set ON_ERROR_STOP on
TRUNCATE bench_baseline.task RESTART IDENTITY;
INSERT INTO bench_baseline.task (stage_id, stage_type, priority, status, data)
SELECT '6f1c1d7e-7a35-4f3e-9d55-0c5b7f1a2b3c'::uuid,
       CASE WHEN :types = 1 THEN 'bench' ELSE 'bench' || (g % :types) END,
       3, 'PENDING', ('{"i":' || g || '}')::jsonb
FROM generate_series(1, :rows) AS g;
VACUUM (ANALYZE) bench_baseline.task;
CHECKPOINT;
