-- 0010: the jobnikd instances on this database and their completion counts (docs/design.md,
-- "Instances and throughput"). Each jobnikd registers a row at start, refreshes seen_at with
-- its heartbeat and deletes the row on a clean stop; the sweeper's leader marks its row,
-- records each sweep there, and deletes rows long gone.
CREATE TABLE instance (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  host text NOT NULL,
  pid integer NOT NULL,
  listen text NOT NULL,
  version text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  seen_at timestamptz NOT NULL DEFAULT now(),
  sweeper_leader boolean NOT NULL DEFAULT false,
  -- The last sweep this instance made as the leader: when it started, how long it took,
  -- tasks it failed, idempotency keys it deleted, jobs it pruned.
  last_sweep_at timestamptz,
  last_sweep_ms bigint,
  last_sweep_tasks_failed bigint,
  last_sweep_keys_expired bigint,
  last_sweep_jobs_pruned bigint
);

-- Tasks that reached COMPLETED or FAILED, per minute, stage type and the instance that took
-- the report; written by the instances' heartbeats (added to), never by a report itself.
-- Kept for the last hours (older rows are deleted by the sweeper's leader). No foreign key:
-- the counts of a stopped instance still count.
CREATE TABLE instance_minute (
  minute timestamptz NOT NULL,
  stage_type text NOT NULL,
  instance_id uuid NOT NULL,
  completed bigint NOT NULL DEFAULT 0,
  failed bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (minute, stage_type, instance_id)
);
