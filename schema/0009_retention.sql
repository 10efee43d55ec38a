-- 0009: retention (docs/design.md, "Retention"). Finished jobs are found oldest first by
-- status and update_time (when they finished, or were last changed since), without
-- touching unfinished jobs or reading the rest of the history: the prune's one index.
-- With the id, each batch starts after the last one's (update_time, id) instead of
-- walking again over the entries of the jobs already deleted (dead until vacuumed).
CREATE INDEX job_finished ON job (status, update_time, id)
  WHERE status IN ('COMPLETED', 'FAILED', 'ABORTED');
