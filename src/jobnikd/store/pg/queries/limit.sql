-- Per-stage-type concurrency limits (schema/0008; docs/design.md, "Concurrency limits").
-- The limits are enforced by the claim statements (ClaimSlots in task.sql); these only
-- read and change them.

-- Creates or changes the limit of stage type $1 to $2. A claim holding the row's lock
-- (claim_slots) finishes first; every claim after reads $2. PgStore::SetStageTypeLimit
-- then wakes the requests waiting for the type (a raised limit may have freed slots).
-- name: LimitSet
INSERT INTO stage_type_limit (stage_type, max_in_progress, update_time) VALUES ($1, $2, now())
ON CONFLICT (stage_type) DO UPDATE SET max_in_progress = excluded.max_in_progress, update_time = now()
RETURNING stage_type, max_in_progress, update_time;

-- name: LimitGet
SELECT stage_type, max_in_progress, update_time FROM stage_type_limit WHERE stage_type = $1;

-- Removes the limit of stage type $1 (unlimited again). No row: it had none.
-- name: LimitDelete
DELETE FROM stage_type_limit WHERE stage_type = $1 RETURNING stage_type;

-- Every limit, by stage type (also PgStore::LimitedTypes' read).
-- name: LimitList
SELECT stage_type, max_in_progress, update_time FROM stage_type_limit ORDER BY stage_type;
