-- 0004: the event log of a job (GET /v1/jobs/{id}/events; docs/design.md, "Job events").
--
-- One row per status or priority change of a job, its stages or its tasks that is not the
-- ordinary claim/complete flow (pause, resume, abort, priority, stage release, retries,
-- final failures, the sweeper's failures, a paused job finishing), written in the
-- transaction of the change itself. The claim and completion statements write nothing
-- here: the hot paths are unchanged.
--  * id: from a sequence, so newer events have larger ids; a page of the newest-first list
--    is a backward range scan of the primary key (job_id, id) from the cursor (the last id
--    seen).
--  * entity / entity_id: the job, stage or task that changed; kind: what changed
--    ('status' or 'priority'), from old_value to new_value (status or priority names).
--  * reason: why, when known (a failure's reason, 'stale', 'lease expired', 'job aborted').
--  * actor: who asked for the change. NULL until requests are authenticated; the store
--    already passes it through (store/pg/queries/event.sql), so authentication only has
--    to fill it in. worker_id: the worker of the task's claim, when it said.
--  * Deleting a job deletes its events (ON DELETE CASCADE, served by the same index).
CREATE TABLE job_event (
  id         bigint      GENERATED ALWAYS AS IDENTITY,
  job_id     uuid        NOT NULL REFERENCES job (id) ON DELETE CASCADE,
  time       timestamptz NOT NULL,
  entity     text        NOT NULL CHECK (entity IN ('job', 'stage', 'task')),
  entity_id  uuid        NOT NULL,
  kind       text        NOT NULL CHECK (kind IN ('status', 'priority')),
  old_value  text,
  new_value  text        NOT NULL,
  reason     text,
  actor      text,
  worker_id  text,
  -- The one index: a page of one job's events, the cascading delete, and uniqueness.
  -- (No index on id alone: a plan could then walk all jobs' events backwards, filtering.)
  PRIMARY KEY (job_id, id)
);
