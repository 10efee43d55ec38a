-- Queries on the job_event table (schema/0004): the event log of GET /v1/jobs/{id}/events.
-- Events are written in the transaction of the change they record, never on the claim or
-- completion paths (tests/unit/statements_test.cc checks those statements). The actor ($9
-- below) is the authenticated caller; NULL until requests are authenticated.

-- One event: job $1, entity $2 ('job', 'stage', 'task') $3, kind $4 ('status',
-- 'priority') from $5 to $6, reason $7, worker $8, actor $9. Its time is the
-- transaction's, as the changed row's update_time.
-- name: EventInsert
INSERT INTO job_event (job_id, time, entity, entity_id, kind, old_value, new_value, reason, worker_id, actor)
VALUES ($1::uuid, now(), $2, $3::uuid, $4, $5, $6, $7, $8, $9);

-- An aborted job aborts every stage that is not final, one 'status' event per stage
-- (reason 'job aborted', actor $2). The stages are locked first, so the old statuses are
-- those the update replaces (a concurrent claim starting a stage is waited for).
-- name: StageAbortForJob
WITH old AS (
  SELECT id, status FROM stage
  WHERE job_id = $1::uuid AND status IN ('CREATED', 'PENDING', 'IN_PROGRESS', 'WAITING')
  ORDER BY "order"
  FOR UPDATE
), aborted AS (
  UPDATE stage s SET status = 'ABORTED', update_time = now()
  FROM old WHERE s.id = old.id AND s.status = old.status
  RETURNING s.id, s."order", old.status AS old_status
)
INSERT INTO job_event (job_id, time, entity, entity_id, kind, old_value, new_value, reason, actor)
SELECT $1::uuid, now(), 'stage', id, 'status', old_status, 'ABORTED', 'job aborted', $2
FROM aborted ORDER BY "order";

-- One page of a job's events, newest first, through job_event_pkey (job_id, id): a
-- backward range scan from the cursor ($2, the last id seen; NULL for the first page),
-- never a sort. LIMIT $3. (ORDER BY id alone: job_id is fixed, and the output column
-- job_id is text, which a sort on "job_id" would sort by.)
-- name: EventPage
SELECT id, time, job_id::text, entity, entity_id::text, kind, old_value, new_value, reason, actor, worker_id
FROM job_event
WHERE job_id = $1::uuid AND id < coalesce($2::bigint, 9223372036854775807)
ORDER BY id DESC
LIMIT $3;

-- A job stream's read (http/streams.h): the job's events with ids above $2, oldest first, a
-- forward range scan of job_event_pkey (job_id, id). LIMIT $3.
-- name: EventsAfter
SELECT id, time, job_id::text, entity, entity_id::text, kind, old_value, new_value, reason, actor, worker_id
FROM job_event
WHERE job_id = $1::uuid AND id > $2::bigint
ORDER BY id
LIMIT $3;
