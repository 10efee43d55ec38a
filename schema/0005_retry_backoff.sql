-- 0005: retry backoff (docs/design.md, "Retry backoff"). Nullable columns without
-- defaults: adding them rewrites nothing, and a v1 client never sets them.

-- A task's retry policy {"delaySeconds","backoff","maxDelaySeconds"} (its own, or its
-- stage's copied when it was created); a stage's is the default of its tasks.
-- A RETRIED task that waits for its delay has ready = false and not_before = when it is
-- due; the scheduler (services/scheduler.h) makes it ready then and clears not_before.
-- task_claim is unchanged: a waiting row is not `ready`, so it is not in the claim index
-- at all, and claims never see it. not_before is set only on waiting rows, so its partial
-- index holds just them: the scheduler's due rows and its next due time are index reads.
ALTER TABLE task
  ADD COLUMN retry jsonb,
  ADD COLUMN not_before timestamptz;
ALTER TABLE stage ADD COLUMN retry jsonb;
CREATE INDEX task_not_before ON task (not_before) WHERE not_before IS NOT NULL;

-- stage_summary expanded s.* when it was created: create it again to include stage.retry.
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
