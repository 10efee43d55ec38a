-- 0001: jobs, stages and tasks.
--
-- Design notes (see docs/design.md for the long form):
--  * Dequeue reads one index, task_claim, whose key matches the claim's ORDER BY
--    (priority, then age) and whose predicate holds only claimable rows, so its cost
--    does not grow with finished history, with other stage types' backlogs, or with
--    tasks of paused jobs and not-yet-started stages (their `ready` is false).
--  * A stage's summary is derived, never double-booked: the stage row stores the
--    counts that change under its own lock (total, completed, failed); in-progress
--    and retried tasks are counted live through the small task_active index; pending
--    is the remainder. A claim therefore never writes the stage row (no hot row on
--    the dequeue path), and a single-snapshot read of stage_summary always agrees
--    with the tasks.

CREATE TABLE job (
  id            uuid        PRIMARY KEY,
  name          text        NOT NULL,
  data          jsonb       NOT NULL,
  user_metadata jsonb       NOT NULL DEFAULT '{}',
  -- 1 = VERY_HIGH ... 5 = VERY_LOW, so ascending order is highest first.
  priority      smallint    NOT NULL CHECK (priority BETWEEN 1 AND 5),
  status        text        NOT NULL CHECK (status IN
                  ('CREATED','PENDING','IN_PROGRESS','COMPLETED','FAILED','ABORTED','PAUSED')),
  percentage    smallint    NOT NULL DEFAULT 0 CHECK (percentage BETWEEN 0 AND 100),
  creation_time timestamptz NOT NULL,
  update_time   timestamptz NOT NULL,
  traceparent   text        NOT NULL,
  tracestate    text
);
CREATE INDEX job_creation_time ON job (creation_time);
CREATE INDEX job_name ON job (name);
-- Jobs not yet finished, by status: the metrics' queue gauges count only these.
CREATE INDEX job_unfinished_status ON job (status) WHERE status IN ('CREATED', 'PENDING', 'IN_PROGRESS', 'PAUSED');

CREATE TABLE stage (
  id             uuid        PRIMARY KEY,
  job_id         uuid        NOT NULL REFERENCES job (id) ON DELETE CASCADE,
  "order"        integer     NOT NULL CHECK ("order" >= 1),
  type           text        NOT NULL,
  data           jsonb       NOT NULL,
  user_metadata  jsonb       NOT NULL DEFAULT '{}',
  status         text        NOT NULL CHECK (status IN
                   ('CREATED','PENDING','IN_PROGRESS','COMPLETED','FAILED','ABORTED','WAITING')),
  percentage     smallint    NOT NULL DEFAULT 0 CHECK (percentage BETWEEN 0 AND 100),
  -- Counts changed only while holding this row's lock (adding tasks, a task reaching a
  -- final status). See stage_summary for the rest of the summary.
  task_total     bigint      NOT NULL DEFAULT 0,
  task_completed bigint      NOT NULL DEFAULT 0,
  task_failed    bigint      NOT NULL DEFAULT 0,
  creation_time  timestamptz NOT NULL,
  update_time    timestamptz NOT NULL,
  traceparent    text        NOT NULL,
  tracestate     text,
  UNIQUE (job_id, "order"),
  CHECK (task_completed + task_failed <= task_total)
);
CREATE INDEX stage_type_status ON stage (type, status);

CREATE TABLE task (
  id            uuid        PRIMARY KEY,
  stage_id      uuid        NOT NULL REFERENCES stage (id) ON DELETE CASCADE,
  -- FIFO order within a priority.
  seq           bigint      GENERATED ALWAYS AS IDENTITY,
  -- Copies for the claim index: the stage's type (immutable) and the job's priority
  -- (kept in step by the priority change).
  stage_type    text        NOT NULL,
  priority      smallint    NOT NULL CHECK (priority BETWEEN 1 AND 5),
  -- True when the task's stage and job were active when last set. Cleared when a job is
  -- paused or aborted, set when a stage or job becomes active. Dequeue still checks the
  -- stage and job statuses, so a stale true costs a skipped row, never a wrong claim.
  ready         boolean     NOT NULL,
  status        text        NOT NULL CHECK (status IN
                  ('CREATED','PENDING','IN_PROGRESS','COMPLETED','FAILED','RETRIED')),
  data          jsonb       NOT NULL,
  user_metadata jsonb       NOT NULL DEFAULT '{}',
  attempts      integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts  integer     NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
  creation_time timestamptz NOT NULL,
  update_time   timestamptz NOT NULL,
  start_time    timestamptz,
  end_time      timestamptz,
  traceparent   text        NOT NULL,
  tracestate    text
);
-- The dequeue index: equality on type, then exactly the claim's ORDER BY.
CREATE INDEX task_claim ON task (stage_type, priority, seq)
  WHERE ready AND status IN ('PENDING', 'RETRIED');
-- Tasks of a stage in creation order (listing, cascading deletes, bulk flag updates).
CREATE INDEX task_stage ON task (stage_id, seq);
-- Live summary counts and the stale-task sweeper: only in-flight and retried rows, so it
-- stays as small as the number of tasks being worked on.
CREATE INDEX task_active ON task (stage_id, status) WHERE status IN ('IN_PROGRESS', 'RETRIED');

-- A stage with its full summary, read in one snapshot.
CREATE VIEW stage_summary AS
SELECT s.*,
       live.in_progress,
       live.retried,
       s.task_total - s.task_completed - s.task_failed - live.in_progress - live.retried AS pending
FROM stage s
CROSS JOIN LATERAL (
  SELECT count(*) FILTER (WHERE t.status = 'IN_PROGRESS') AS in_progress,
         count(*) FILTER (WHERE t.status = 'RETRIED')     AS retried
  FROM task t
  WHERE t.stage_id = s.id AND t.status IN ('IN_PROGRESS', 'RETRIED')
) live;
