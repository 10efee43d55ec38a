-- 0003: claim tokens, leases, worker ids and failure reasons of tasks (docs/design.md,
-- "Claims, leases and heartbeats"). Nullable columns without defaults: adding them
-- rewrites nothing, and a v1 client never sets them.

-- The current claim's token: a fresh uuid written by every claim (in the claim statement
-- itself). A report or heartbeat naming another claim is refused (TASK_CLAIM_MISMATCH).
-- The worker that made the current claim, when it said (`workerId` on the dequeue).
-- The current claim's lease expiry (`lease_seconds` on the dequeue, moved by heartbeats);
-- NULL for a claim without a lease, which keeps the sweeper's `stale_after` rule.
-- Deliberately not indexed: a heartbeat changes only lease_expires_at, so it stays a HOT
-- update; the sweeper finds expired leases among the IN_PROGRESS tasks (task_active).
-- The task's failures, newest last, at most 20: [{"attempt","at","reason","workerId"}],
-- written only when it fails (by a worker's FAILED report or by the sweeper).
ALTER TABLE task
  ADD COLUMN claim_id uuid,
  ADD COLUMN worker_id text,
  ADD COLUMN lease_expires_at timestamptz,
  ADD COLUMN errors jsonb;
