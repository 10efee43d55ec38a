-- Queries on the job table. Each statement is prepared under its name.
-- Column order of a job row (store/pg/rows.cc reads it): id, name, data,
-- user_metadata, priority, status, percentage, creation_time, update_time,
-- traceparent, tracestate.

-- name: JobInsert
INSERT INTO job (id, name, data, user_metadata, priority, status, percentage,
                 creation_time, update_time, traceparent, tracestate)
VALUES (gen_random_uuid(), $1, $2::jsonb, $3::jsonb, $4, 'PENDING', 0, now(), now(), $5, $6)
RETURNING id::text, name, data::text, user_metadata::text, priority, status, percentage,
          creation_time, update_time, traceparent, tracestate;

-- name: JobGet
SELECT id::text, name, data::text, user_metadata::text, priority, status, percentage,
       creation_time, update_time, traceparent, tracestate
FROM job WHERE id = $1::uuid;

-- Locks the job for a change that depends on its status (adding a stage, a status change).
-- name: JobGetForUpdate
SELECT id::text, name, data::text, user_metadata::text, priority, status, percentage,
       creation_time, update_time, traceparent, tracestate
FROM job WHERE id = $1::uuid FOR UPDATE;

-- Holds the job's status steady while tasks are added under it.
-- name: JobGetForShare
SELECT id::text, name, data::text, user_metadata::text, priority, status, percentage,
       creation_time, update_time, traceparent, tracestate
FROM job WHERE id = $1::uuid FOR SHARE;

-- Filters are optional: a NULL parameter matches everything.
-- name: JobFind
SELECT id::text, name, data::text, user_metadata::text, priority, status, percentage,
       creation_time, update_time, traceparent, tracestate
FROM job
WHERE ($1::text IS NULL OR name = $1)
  AND ($2::smallint IS NULL OR priority = $2)
  AND ($3::timestamptz IS NULL OR creation_time >= $3)
  AND ($4::timestamptz IS NULL OR creation_time <= $4)
ORDER BY creation_time, id;

-- name: JobDelete
DELETE FROM job WHERE id = $1::uuid;

-- name: JobSetUserMetadata
UPDATE job SET user_metadata = $2::jsonb, update_time = now() WHERE id = $1::uuid;

-- name: JobSetPriority
UPDATE job SET priority = $2, update_time = now() WHERE id = $1::uuid;

-- Keeps the claim index's copy of the priority in step for every unfinished task.
-- name: TaskSetPriorityForJob
UPDATE task SET priority = $2
WHERE stage_id IN (SELECT id FROM stage WHERE job_id = $1::uuid)
  AND status NOT IN ('COMPLETED', 'FAILED') AND priority <> $2;

-- Guarded by the expected current status: no row means another change won.
-- name: JobSetStatus
UPDATE job SET status = $3, update_time = now()
WHERE id = $1::uuid AND status = $2;

-- Recomputes the job's percentage from its stages; returns completed and total stage counts.
-- name: JobRefreshPercentage
UPDATE job j SET percentage = CASE WHEN c.total = 0 THEN 0 ELSE (100 * c.completed / c.total) END,
                 update_time = now()
FROM (SELECT count(*) FILTER (WHERE status = 'COMPLETED') AS completed, count(*) AS total
      FROM stage WHERE job_id = $1::uuid) c
WHERE j.id = $1::uuid
RETURNING c.completed, c.total, j.status;

-- Tasks of a paused, aborted or failed job stop being claimable.
-- name: TaskClearReadyForJob
UPDATE task SET ready = false
WHERE stage_id IN (SELECT id FROM stage WHERE job_id = $1::uuid)
  AND ready AND status IN ('PENDING', 'RETRIED');

-- Tasks of the active stages of a resumed job become claimable.
-- name: TaskSetReadyForJob
UPDATE task SET ready = true
WHERE stage_id IN (SELECT id FROM stage WHERE job_id = $1::uuid AND status IN ('PENDING', 'IN_PROGRESS'))
  AND NOT ready AND status IN ('PENDING', 'RETRIED');

-- An aborted job aborts every stage that is not final.
-- name: StageAbortForJob
UPDATE stage SET status = 'ABORTED', update_time = now()
WHERE job_id = $1::uuid AND status IN ('CREATED', 'PENDING', 'IN_PROGRESS', 'WAITING');

-- One page of GET /v1/jobs (streamed in batches of these, or paged by the client), in the
-- list's order (creation_time, id) through job_creation_time_id: a range scan from the
-- cursor, never a sort. Filters as JobFind, plus status ($5). The cursor: creation time in
-- microseconds since the epoch ($6, exact in integer arithmetic) and id ($7), NULL for the
-- first page; then LIMIT $8 OFFSET $9. The last column is the row's own cursor time.
-- name: JobPage
SELECT id::text, name, data::text, user_metadata::text, priority, status, percentage,
       creation_time, update_time, traceparent, tracestate,
       (extract(epoch FROM creation_time) * 1000000)::bigint
FROM job
WHERE (creation_time, id) > (coalesce(timestamptz 'epoch' + $6::bigint * interval '1 microsecond', '-infinity'),
                             coalesce($7::uuid, '00000000-0000-0000-0000-000000000000'))
  AND ($1::text IS NULL OR name = $1)
  AND ($2::smallint IS NULL OR priority = $2)
  AND ($3::timestamptz IS NULL OR creation_time >= $3)
  AND ($4::timestamptz IS NULL OR creation_time <= $4)
  AND ($5::text IS NULL OR status = $5)
ORDER BY creation_time, id
LIMIT $8 OFFSET $9;

-- Extension: the task summary of each job, its stages' summaries summed (a job without
-- stages has no row).
-- name: JobTaskSummaries
SELECT job_id::text, sum(task_total)::bigint, sum(task_completed)::bigint, sum(task_failed)::bigint,
       sum(in_progress)::bigint, sum(retried)::bigint
FROM stage_summary WHERE job_id = ANY ($1::uuid[])
GROUP BY job_id;
