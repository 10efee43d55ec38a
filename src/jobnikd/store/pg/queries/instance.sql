-- Instances and their minute counts (schema/0010, store/pg/instances.cc).

-- name: InstanceRegister
INSERT INTO instance (host, pid, listen, version) VALUES ($1, $2, $3, $4)
RETURNING id::text;

-- name: InstanceSeen
UPDATE instance SET seen_at = now(), sweeper_leader = $2 WHERE id = $1::uuid
RETURNING id;

-- The leader's row is the only one marked.
-- name: InstanceUnmarkOthers
UPDATE instance SET sweeper_leader = false WHERE sweeper_leader AND id <> $1::uuid;

-- Adds the counts $2 (a JSON array of {minute, stage_type, completed, failed}) of
-- instance $1.
-- name: InstanceAddMinutes
INSERT INTO instance_minute AS m (minute, stage_type, instance_id, completed, failed)
SELECT c.minute, c.stage_type, $1::uuid, c.completed, c.failed
FROM jsonb_to_recordset($2::jsonb) AS c(minute timestamptz, stage_type text, completed bigint, failed bigint)
ON CONFLICT (minute, stage_type, instance_id)
DO UPDATE SET completed = m.completed + EXCLUDED.completed, failed = m.failed + EXCLUDED.failed;

-- Only the leader sweeps: its row is marked, no other.
-- name: InstanceRecordSweep
UPDATE instance SET last_sweep_at = $2::timestamptz, last_sweep_ms = $3, last_sweep_tasks_failed = $4,
                    last_sweep_keys_expired = $5, last_sweep_jobs_pruned = $6, sweeper_leader = true
WHERE id = $1::uuid;

-- name: InstanceRemove
DELETE FROM instance WHERE id = $1::uuid;

-- Every instance; gone: not seen for longer than $1 seconds.
-- name: InstanceList
SELECT id::text, host, pid, listen, version, started_at, seen_at,
       now() - seen_at > make_interval(secs => $1) AS gone, sweeper_leader,
       last_sweep_at, last_sweep_ms, last_sweep_tasks_failed, last_sweep_keys_expired, last_sweep_jobs_pruned
FROM instance
ORDER BY started_at, id;

-- name: InstanceThroughput
SELECT stage_type, minute, sum(completed)::bigint AS completed, sum(failed)::bigint AS failed
FROM instance_minute
WHERE minute >= $1::timestamptz
GROUP BY stage_type, minute
ORDER BY stage_type, minute;

-- name: InstanceDeleteOld
WITH gone AS (
  DELETE FROM instance WHERE seen_at < $1::timestamptz RETURNING 1
), minutes AS (
  DELETE FROM instance_minute WHERE minute < $2::timestamptz RETURNING 1
)
SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM minutes) AS deleted;
