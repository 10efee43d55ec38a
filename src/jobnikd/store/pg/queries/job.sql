-- Queries on the job table. Each statement is prepared under its name.
-- Columns of a job row, read by name (store/pg/rows.cc), usually in this order: id, name,
-- data, user_metadata, priority, status, percentage, creation_time, update_time,
-- traceparent, tracestate; then not_before (schema/0007), read by name.

-- $7: the job's notBefore (NULL for none).
-- name: JobInsert
INSERT INTO job (id, name, data, user_metadata, priority, status, percentage,
                 creation_time, update_time, traceparent, tracestate, not_before)
VALUES (new_id(), $1, $2::jsonb, $3::jsonb, $4, 'PENDING', 0, now(), now(), $5, $6, $7::timestamptz)
RETURNING id::text, name, data::text, user_metadata::text, priority, status, percentage,
          creation_time, update_time, traceparent, tracestate, not_before;

-- name: JobGet
SELECT id::text, name, data::text, user_metadata::text, priority, status, percentage,
       creation_time, update_time, traceparent, tracestate, not_before
FROM job WHERE id = $1::uuid;

-- Locks the job for a change that depends on its status (adding a stage, a status change).
-- name: JobGetForUpdate
SELECT id::text, name, data::text, user_metadata::text, priority, status, percentage,
       creation_time, update_time, traceparent, tracestate, not_before
FROM job WHERE id = $1::uuid FOR UPDATE;

-- Holds the job's status steady while tasks are added under it.
-- name: JobGetForShare
SELECT id::text, name, data::text, user_metadata::text, priority, status, percentage,
       creation_time, update_time, traceparent, tracestate, not_before
FROM job WHERE id = $1::uuid FOR SHARE;

-- Filters are optional: a NULL parameter matches everything.
-- name: JobFind
SELECT id::text, name, data::text, user_metadata::text, priority, status, percentage,
       creation_time, update_time, traceparent, tracestate, not_before
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

-- One page of GET /v1/jobs (streamed in batches of these, or paged by the client), in the
-- list's order (creation_time, id) through job_creation_time_id: a range scan from the
-- cursor, never a sort. Filters as JobFind, plus status ($5). The cursor: creation time in
-- microseconds since the epoch ($6, exact in integer arithmetic) and id ($7), NULL for the
-- first page; then LIMIT $8 OFFSET $9. cursor_time is the row's own cursor time.
-- name: JobPage
SELECT id::text, name, data::text, user_metadata::text, priority, status, percentage,
       creation_time, update_time, traceparent, tracestate, not_before,
       (extract(epoch FROM creation_time) * 1000000)::bigint AS cursor_time
FROM job
WHERE (creation_time, id) > (coalesce(timestamptz 'epoch' + $6::bigint * interval '1 microsecond', '-infinity'),
                             coalesce($7::uuid, '00000000-0000-0000-0000-000000000000'))
  AND ($1::text IS NULL OR name = $1)
  AND ($2::smallint IS NULL OR priority = $2)
  AND ($3::timestamptz IS NULL OR creation_time >= $3)
  AND ($4::timestamptz IS NULL OR creation_time <= $4)
  AND ($5::text IS NULL OR status = $5)
  -- Extension: a search, case-insensitive, a literal substring (no LIKE wildcards). No
  -- index serves it: the page scan reads jobs in order until the page is full.
  AND ($10::text IS NULL OR strpos(lower(name), lower($10)) > 0)
ORDER BY creation_time, id
LIMIT $8 OFFSET $9;

-- Queue gauges: unfinished jobs by status.
-- name: QueueJobCounts
SELECT status, count(*) AS jobs FROM job
WHERE status IN ('CREATED', 'PENDING', 'IN_PROGRESS', 'PAUSED')
GROUP BY status;
