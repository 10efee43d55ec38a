-- Retention (schema/0009, store/pg/retention.cc): deleting finished jobs.

-- Up to $3 jobs of status $1 unchanged since before $2 and after ($4, $5) in
-- (update_time, id) order (the job_finished index: where the previous batch stopped),
-- oldest first, locked, with their task counts. Locked rows are skipped: a job being
-- retried or deleted right now is left for a later prune. FOR UPDATE re-checks status and
-- update_time on the latest version of a row that changed while this waited for it.
-- name: RetentionCandidates
SELECT j.id, j.update_time,
       coalesce((SELECT sum(s.task_total) FROM stage s WHERE s.job_id = j.id), 0)::bigint AS tasks
FROM job j
WHERE j.status = $1 AND j.update_time < $2::timestamptz
  AND (j.update_time, j.id) > ($4::timestamptz, $5::uuid)
ORDER BY j.update_time, j.id
LIMIT $3
FOR UPDATE OF j SKIP LOCKED;

-- Deletes the jobs $1 (locked by RetentionCandidates in this transaction) and what is
-- theirs, children first, by the indexes that serve the cascades (task_stage, the stage's
-- job, job_event's key), so the cascade triggers find nothing left to do.
-- name: RetentionDelete
WITH stages AS (
  SELECT id FROM stage WHERE job_id = ANY($1::uuid[])
), tasks AS (
  DELETE FROM task WHERE stage_id IN (SELECT id FROM stages) RETURNING 1
), events AS (
  DELETE FROM job_event WHERE job_id = ANY($1::uuid[]) RETURNING 1
), stages_deleted AS (
  DELETE FROM stage WHERE id IN (SELECT id FROM stages) RETURNING 1
), jobs AS (
  DELETE FROM job WHERE id = ANY($1::uuid[]) RETURNING 1
)
SELECT (SELECT count(*) FROM jobs) AS jobs,
       (SELECT count(*) FROM stages_deleted) AS stages,
       (SELECT count(*) FROM tasks) AS tasks,
       (SELECT count(*) FROM events) AS events;
