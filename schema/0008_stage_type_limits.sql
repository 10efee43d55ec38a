-- 0008: per-stage-type concurrency limits (docs/design.md, "Concurrency limits").

-- A limited stage type: never more than max_in_progress of its tasks IN_PROGRESS at once,
-- across every jobnikd and worker. A type without a row is unlimited. 0 pauses the type:
-- none of its tasks is claimed (those in progress run on).
-- The claim of a limited type locks its row FOR UPDATE (claim_slots below), so claims of
-- one limited type are serialised on it, and those of other types never touch it.
CREATE TABLE stage_type_limit (
  stage_type      text        PRIMARY KEY,
  max_in_progress integer     NOT NULL CHECK (max_in_progress >= 0),
  update_time     timestamptz NOT NULL
);

-- How many more tasks of each limited type among `types` may be claimed now: one row per
-- type that has a limit (none for unlimited types). Called by the claim statements
-- (queries/task.sql, TaskClaim and TaskClaimMany) only when one of their types has a limit.
-- It first locks the limit rows, in stage_type order (so that two claims over the same
-- limited types cannot deadlock), and only then counts the tasks in progress, in a query
-- of its own: a VOLATILE PL/pgSQL function takes a new snapshot for each query in READ
-- COMMITTED, so the count sees every claim committed before the lock was granted (a count
-- in the claim statement itself would use the statement's snapshot, taken before the
-- lock, and miss the tasks claimed by the claim it waited for). The lock is held to the
-- end of the claim's transaction, so no other claim of the type can add to the count
-- before this one commits. Tasks leave IN_PROGRESS without the lock (reports, the
-- sweeper): that only frees slots. The count reads the IN_PROGRESS rows of task_active
-- and stops at the limit.
CREATE FUNCTION claim_slots(types text[]) RETURNS TABLE (stage_type text, free integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  locked text[];
BEGIN
  SELECT array_agg(x.stage_type) INTO locked
  FROM (SELECT l.stage_type FROM stage_type_limit l WHERE l.stage_type = ANY (types)
        ORDER BY l.stage_type FOR UPDATE) x;
  -- Only the rows locked above: a limit created since (by a PUT that committed after this
  -- claim's statement started) applies from the next claim on.
  RETURN QUERY
    SELECT l.stage_type,
           greatest(0, l.max_in_progress - (
             SELECT count(*) FROM (
               SELECT 1 FROM task t WHERE t.stage_type = l.stage_type AND t.status = 'IN_PROGRESS'
               LIMIT l.max_in_progress) x))::integer
    FROM stage_type_limit l
    WHERE l.stage_type = ANY (locked);
END
$$;
