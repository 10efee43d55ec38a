-- 0013: a limited type's count of tasks in progress reads only that type's (docs/design.md,
-- "Concurrency limits").
--
-- claim_slots (0008) counted through task_active, whose first column is the stage: the
-- count read the IN_PROGRESS entries of every type, and the planner served it with a bitmap
-- scan, which reads the heap row of every entry, dead ones too, and never marks an entry
-- dead. Every task that completed since the last VACUUM of `task` leaves a dead
-- IN_PROGRESS entry behind, so each claim of a limited type read them all again: 14,000
-- tasks completed since the last VACUUM made the count take 19 ms, in every claim.
--
-- Now the count reads an index of the tasks in progress by type, by a plain index scan:
-- the scan marks the entries of tasks that have left IN_PROGRESS dead as it meets them,
-- and the scans after it skip those without reading their rows. The settings on the
-- function keep the planner from choosing a bitmap (or a sequential) scan whatever the
-- statistics say; the function only reads `task` by this index and stage_type_limit by its
-- primary key. The index costs every claim, of any type, one index entry more.
CREATE INDEX task_in_progress_type ON task (stage_type) WHERE status = 'IN_PROGRESS';

ALTER FUNCTION claim_slots(text[]) SET enable_bitmapscan = off;
ALTER FUNCTION claim_slots(text[]) SET enable_seqscan = off;
