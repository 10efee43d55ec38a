-- bench/seed-history.sql: bulk-loads a large history into jobnikd's schema, fast,
-- straight through SQL (the API would take far too long for millions of rows).
-- Run by `jobnik-loadgen seed-history` (bench/run.sh, scenario d):
--
--   psql -X -v ON_ERROR_STOP=1 -d URL -v schema=S -v completed=N -v pending=M \
--        -v per_stage=1000 -v history_types=16 -v pending_types=16 -f bench/seed-history.sql
--
--   schema         jobnikd's schema, already migrated (jobnikd serve --migrate)
--   completed      COMPLETED tasks: finished history, in COMPLETED stages of COMPLETED jobs,
--                  stage types 'history-0' .. 'history-(history_types-1)'
--   pending        PENDING, claimable tasks of other stage types: PENDING stages of
--                  PENDING jobs, types 'other-0' .. 'other-(pending_types-1)'; nobody
--                  claims them during the benchmark (its workers ask for 'bench-*')
--   per_stage      tasks per stage; every seeded job has exactly one stage
--
-- The rows look like the ones jobnikd writes (schema/0001_init.sql): stage counters
-- (task_total, task_completed) agree with the tasks, `ready` is true, priority 3
-- (MEDIUM), a valid traceparent. Foreign-key triggers are skipped for the load
-- (session_replication_role = replica, superuser only): the rows are consistent by
-- construction. Ends with VACUUM (ANALYZE) and CHECKPOINT, like a database whose
-- history accumulated under autovacuum, so the benchmark starts from a settled state.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET search_path TO :"schema";
SET session_replication_role = replica;

BEGIN;

-- One row per seeded job (= stage).
CREATE TEMP TABLE seed_stage ON COMMIT DROP AS
SELECT gen_random_uuid() AS stage_id, gen_random_uuid() AS job_id, true AS history, n,
       'history-' || (n % :history_types) AS type,
       least(:per_stage, :completed - (n - 1) * :per_stage)::bigint AS ntasks
FROM generate_series(1, ceil(:completed::numeric / :per_stage)::int) AS n
UNION ALL
SELECT gen_random_uuid(), gen_random_uuid(), false, n,
       'other-' || (n % :pending_types),
       least(:per_stage, :pending - (n - 1) * :per_stage)::bigint
FROM generate_series(1, ceil(:pending::numeric / :per_stage)::int) AS n;

INSERT INTO job (id, name, data, user_metadata, priority, status, percentage,
                 creation_time, update_time, traceparent)
SELECT job_id, CASE WHEN history THEN 'seed-history-' ELSE 'seed-pending-' END || n,
       '{"seed":true}', '{}', 3,
       CASE WHEN history THEN 'COMPLETED' ELSE 'PENDING' END,
       CASE WHEN history THEN 100 ELSE 0 END,
       now() - interval '1 day', now() - interval '1 day',
       '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
FROM seed_stage;

INSERT INTO stage (id, job_id, "order", type, data, user_metadata, status, percentage,
                   task_total, task_completed, task_failed, creation_time, update_time, traceparent)
SELECT stage_id, job_id, 1, type, '{}', '{}',
       CASE WHEN history THEN 'COMPLETED' ELSE 'PENDING' END,
       CASE WHEN history THEN 100 ELSE 0 END,
       ntasks, CASE WHEN history THEN ntasks ELSE 0 END, 0,
       now() - interval '1 day', now() - interval '1 day',
       '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
FROM seed_stage;

INSERT INTO task (id, stage_id, stage_type, priority, ready, status, data, user_metadata,
                  attempts, max_attempts, creation_time, update_time, start_time, end_time,
                  traceparent)
SELECT gen_random_uuid(), s.stage_id, s.type, 3, true,
       CASE WHEN s.history THEN 'COMPLETED' ELSE 'PENDING' END,
       jsonb_build_object('i', g), '{}', 0, 1,
       now() - interval '1 day',
       CASE WHEN s.history THEN now() - interval '23 hours' ELSE now() - interval '1 day' END,
       CASE WHEN s.history THEN now() - interval '23 hours' END,
       CASE WHEN s.history THEN now() - interval '23 hours' END,
       '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
FROM seed_stage s
CROSS JOIN LATERAL generate_series(1, s.ntasks) AS g;

COMMIT;

RESET session_replication_role;
VACUUM (ANALYZE) job, stage, task;
CHECKPOINT;
