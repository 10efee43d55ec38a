-- 0007: delayed start (docs/design.md, "Delayed start"). Nullable columns without
-- defaults: adding them rewrites nothing, and a v1 client never sets them.

-- A job's or stage's `notBefore`, as the client gave it (shown in its JSON): none of its
-- tasks is claimable before it, also tasks added later. A task waits for the latest of its
-- own, its stage's and its job's value exactly as a RETRIED task waits for its retry delay
-- (0005): inserted with ready = false and task.not_before = that time when it is still in
-- the future, made ready by the scheduler (services/scheduler.h) when it is due. So the
-- claim index and the claim statements are unchanged, and claims never see a row that is
-- not yet due.
ALTER TABLE job ADD COLUMN not_before timestamptz;
ALTER TABLE stage ADD COLUMN not_before timestamptz;

-- stage_summary expanded s.* when it was created: create it again to include stage.not_before.
DROP VIEW stage_summary;
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
