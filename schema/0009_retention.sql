-- 0009: retention (docs/design.md, "Retention"). Finished jobs are found oldest first by
-- status and update_time (when they finished, or were last changed since), without
-- touching unfinished jobs or reading the rest of the history: the prune's one index.
CREATE INDEX job_finished ON job (status, update_time)
  WHERE status IN ('COMPLETED', 'FAILED', 'ABORTED');
