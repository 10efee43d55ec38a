-- 0002: indexes in the order of the paged and streamed lists (GET /v1/tasks, /v1/jobs,
-- /v1/stages), so that a page is an index range scan from its cursor, never a sort of
-- the whole table (docs/design.md, "Lists").

-- GET /v1/tasks: creation order. Writes only on insert (seq never changes), so task
-- status updates stay HOT-eligible as before.
CREATE INDEX task_seq ON task (seq);

-- GET /v1/jobs: (creation_time, id), unique. Replaces the index on creation_time alone,
-- whose date-range lookups it serves as well.
CREATE INDEX job_creation_time_id ON job (creation_time, id);
DROP INDEX job_creation_time;

-- GET /v1/stages: (creation_time, job_id, order), unique since (job_id, order) is.
CREATE INDEX stage_creation_order ON stage (creation_time, job_id, "order");
