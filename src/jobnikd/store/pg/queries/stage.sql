-- Queries on the stage table. Reads go through the stage_summary view.
-- Columns of a stage row, read by name (store/pg/rows.cc), usually in this order: id,
-- job_id, type, data, user_metadata, order, status, percentage, task_total,
-- task_completed, task_failed, in_progress, retried, pending, traceparent, tracestate; then
-- retry (schema/0005) and not_before (schema/0007), read by name.

-- The caller holds the job's lock and passes the next order ($8); $9: the stage's retry
-- policy (JSON, the default of its tasks; NULL for none); $10: its notBefore (NULL for none).
-- name: StageInsert
INSERT INTO stage (id, job_id, "order", type, data, user_metadata, status, percentage,
                   creation_time, update_time, traceparent, tracestate, retry, not_before)
VALUES (new_id(), $1::uuid, $8, $2, $3::jsonb, $4::jsonb, $5, 0, now(), now(), $6, $7, $9::jsonb,
        $10::timestamptz)
RETURNING id::text, job_id::text, type, data::text, user_metadata::text, "order", status, percentage,
          task_total, task_completed, task_failed, 0::bigint AS in_progress, 0::bigint AS retried,
          0::bigint AS pending, traceparent, tracestate, retry::text AS retry, not_before;

-- name: StageGet
SELECT id::text, job_id::text, type, data::text, user_metadata::text, "order", status, percentage,
       task_total, task_completed, task_failed, in_progress, retried, pending, traceparent, tracestate,
       retry::text AS retry, not_before
FROM stage_summary WHERE id = $1::uuid;

-- name: StageJobId
SELECT job_id::text FROM stage WHERE id = $1::uuid;

-- name: StageGetForUpdate
SELECT id::text, job_id::text, type, data::text, user_metadata::text, "order", status, percentage,
       task_total, task_completed, task_failed, 0::bigint AS in_progress, 0::bigint AS retried,
       0::bigint AS pending, traceparent, tracestate, retry::text AS retry, not_before
FROM stage WHERE id = $1::uuid FOR UPDATE;

-- name: StageListForJobs
SELECT id::text, job_id::text, type, data::text, user_metadata::text, "order", status, percentage,
       task_total, task_completed, task_failed, in_progress, retried, pending, traceparent, tracestate,
       retry::text AS retry, not_before
FROM stage_summary WHERE job_id = ANY ($1::uuid[])
ORDER BY job_id, "order";

-- name: StageFind
SELECT id::text, job_id::text, type, data::text, user_metadata::text, "order", status, percentage,
       task_total, task_completed, task_failed, in_progress, retried, pending, traceparent, tracestate,
       retry::text AS retry, not_before
FROM stage_summary
WHERE ($1::uuid IS NULL OR job_id = $1)
  AND ($2::text IS NULL OR type = $2)
  AND ($3::text IS NULL OR status = $3)
ORDER BY creation_time, job_id, "order";

-- Extension: the task summary of each job, its stages' summaries summed (a job without
-- stages has no row).
-- name: StageTotalsForJobs
SELECT job_id::text, sum(task_total)::bigint AS total, sum(task_completed)::bigint AS completed,
       sum(task_failed)::bigint AS failed, sum(in_progress)::bigint AS in_progress, sum(retried)::bigint AS retried
FROM stage_summary WHERE job_id = ANY ($1::uuid[])
GROUP BY job_id;

-- The last stage of a job (its order and status); no row for a job without stages.
-- name: StageGetLast
SELECT "order", status FROM stage WHERE job_id = $1::uuid ORDER BY "order" DESC LIMIT 1;

-- The stage before `order` in the same job (none for the first stage).
-- name: StageGetPrevious
SELECT status FROM stage WHERE job_id = $1::uuid AND "order" = $2 - 1;

-- A stage's count of final failures (the report path reads it under the stage's lock,
-- after counting its own failure: 1 means this failure failed the stage).
-- name: StageTaskFailed
SELECT task_failed FROM stage WHERE id = $1::uuid;

-- name: StageSetUserMetadata
UPDATE stage SET user_metadata = $2::jsonb, update_time = now() WHERE id = $1::uuid;

-- Guarded by the expected current status: no row means another change won.
-- name: StageSetStatus
UPDATE stage SET status = $3, update_time = now()
WHERE id = $1::uuid AND status = $2;

-- An aborted job aborts every stage that is not final: StageAbortForJob (event.sql), which
-- records each stage's change.

-- Adding tasks ($2 of them): the stored total grows, the percentage follows ($3, from
-- domain::StagePercentage; the caller holds the stage's lock).
-- name: StageAddTotal
UPDATE stage SET task_total = task_total + $2, percentage = $3, update_time = now()
WHERE id = $1::uuid;

-- Starts the next stage when it is waiting for its predecessor (CREATED -> PENDING).
-- name: StageActivateNext
UPDATE stage SET status = 'PENDING', update_time = now()
WHERE job_id = $1::uuid AND "order" = $2 + 1 AND status = 'CREATED'
RETURNING id::text;

-- Queue gauges: unfinished work by stage type. Reads only unfinished stages (bounded by
-- the work in flight, not by history) through stage_type_status.
-- name: QueueTaskCounts
-- oldest_pending: seconds since the creation of the oldest claimable PENDING task of the
-- type, from the head of task_claim for each priority (at most five index probes a type).
SELECT q.type, q.pending, q.in_progress, q.retried, o.oldest_pending
FROM (SELECT type, sum(pending)::bigint AS pending, sum(in_progress)::bigint AS in_progress,
             sum(retried)::bigint AS retried
      FROM stage_summary
      WHERE status IN ('CREATED', 'PENDING', 'IN_PROGRESS', 'WAITING')
      GROUP BY type) q
CROSS JOIN LATERAL (
  SELECT extract(epoch FROM now() - min(head.creation_time))::float8 AS oldest_pending
  FROM generate_series(1, 5) AS p (priority)
  CROSS JOIN LATERAL (
    SELECT t.creation_time FROM task t
    WHERE t.stage_type = q.type AND t.priority = p.priority AND t.ready AND t.status = 'PENDING'
    ORDER BY t.seq LIMIT 1) head) o;

-- One page of GET /v1/stages, in the list's order (creation_time, job_id, order) through
-- stage_creation_order. Filters as StageFind. The cursor: creation time in microseconds
-- since the epoch ($4), job id ($5), order ($6), NULL for the first page; then LIMIT $7
-- OFFSET $8. cursor_time is the row's own cursor time.
-- name: StagePage
SELECT id::text, job_id::text, type, data::text, user_metadata::text, "order", status, percentage,
       task_total, task_completed, task_failed, in_progress, retried, pending, traceparent, tracestate,
       retry::text AS retry, not_before, (extract(epoch FROM creation_time) * 1000000)::bigint AS cursor_time
FROM stage_summary
WHERE (creation_time, job_id, "order") >
        (coalesce(timestamptz 'epoch' + $4::bigint * interval '1 microsecond', '-infinity'),
         coalesce($5::uuid, '00000000-0000-0000-0000-000000000000'), coalesce($6::integer, 0))
  AND ($1::uuid IS NULL OR job_id = $1)
  AND ($2::text IS NULL OR type = $2)
  AND ($3::text IS NULL OR status = $3)
ORDER BY creation_time, job_id, "order"
LIMIT $7 OFFSET $8;

-- The FAILED stages of a job, locked, in order (RetryJob re-opens them; the caller holds
-- the job's lock).
-- name: StageFailedOfJob
SELECT id::text FROM stage WHERE job_id = $1::uuid AND status = 'FAILED' ORDER BY "order" FOR UPDATE;
