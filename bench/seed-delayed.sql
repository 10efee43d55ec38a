-- bench/seed-delayed.sql: RETRIED tasks waiting for their retry delay (docs/design.md,
-- "Retry backoff"), bulk-loaded for bench/run.sh scenario e:
--
--   psql -X -v ON_ERROR_STOP=1 -d URL -v schema=S -v delayed=N -v type=T -f bench/seed-delayed.sql
--
-- One IN_PROGRESS job with one IN_PROGRESS stage of type T (the benchmark's own type) and N
-- tasks exactly as TaskReport leaves a failed task that waits: status RETRIED, attempts 1,
-- a retry policy, ready = false, not_before a day ahead. Their seq is lower than every
-- task the benchmark submits afterwards, and their priority the same (3, MEDIUM): were
-- they in the claim index, every claim would have to walk past all of them.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET search_path TO :"schema";

BEGIN;
CREATE TEMP TABLE seed_ids ON COMMIT DROP AS SELECT gen_random_uuid() AS job_id, gen_random_uuid() AS stage_id;
INSERT INTO job (id, name, data, user_metadata, priority, status, percentage, creation_time, update_time, traceparent)
SELECT job_id, 'seed-delayed', '{"seed":true}', '{}', 3, 'IN_PROGRESS', 0, now(), now(),
       '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
FROM seed_ids;
INSERT INTO stage (id, job_id, "order", type, data, user_metadata, status, percentage, task_total, creation_time,
                   update_time, traceparent)
SELECT stage_id, job_id, 1, :'type', '{}', '{}', 'IN_PROGRESS', 0, :delayed, now(), now(),
       '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
FROM seed_ids;
INSERT INTO task (id, stage_id, stage_type, priority, ready, status, data, user_metadata, attempts, max_attempts,
                  creation_time, update_time, start_time, traceparent, retry, not_before, errors)
SELECT gen_random_uuid(), s.stage_id, :'type', 3, false, 'RETRIED', jsonb_build_object('i', n), '{}', 1, 5,
       now(), now(), now(), '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
       '{"delaySeconds":86400,"backoff":2,"maxDelaySeconds":604800}',
       now() + interval '1 day' + n * interval '1 millisecond',
       '[{"attempt":1,"at":"2026-01-01T00:00:00.000Z","reason":"seeded"}]'
FROM seed_ids s, generate_series(1, :delayed) AS n;
COMMIT;
VACUUM (ANALYZE) task;
VACUUM (ANALYZE) stage;
VACUUM (ANALYZE) job;
SELECT count(*) AS delayed FROM task WHERE not_before IS NOT NULL;
